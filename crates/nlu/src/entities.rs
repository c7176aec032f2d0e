//! Entity extraction from colloquial Chinese and English: yes/no, numbers,
//! money, phone numbers, dates and times. Rule-based on purpose: these
//! answers must be exact and explainable, and there is no training data for
//! a tenant's first call.

use std::sync::OnceLock;

use regex::Regex;

use crate::text::normalize;

/// A yes/no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum YesNo {
    Yes,
    No,
}

/// Phrases that contain a negation character but mean yes ("no problem"),
/// or that mean neither ("sorry", "is it?"): removed before looking for cues.
const YES_WITH_NEGATION: &[&str] = &[
    "没问题",
    "没有问题",
    "没错",
    "没毛病",
    "不错",
    "可不是",
    "不就是",
];
const NEUTRAL: &[&str] = &[
    "不好意思",
    "是不是",
    "对不对",
    "好不好",
    "行不行",
    "要不要",
    "可不可以",
    "能不能",
    "有没有",
    "是吗",
    "对吗",
    "好吗",
    "行吗",
    "可以吗",
    "是谁",
    "是什么",
    "是哪",
];
const NO_CUES: &[&str] = &[
    "不用",
    "不要",
    "不需要",
    "不必",
    "算了",
    "不是",
    "不对",
    "不行",
    "不可以",
    "不能",
    "不好",
    "没有",
    "没空",
    "没时间",
    "拒绝",
    "不感兴趣",
    "没兴趣",
    "没需要",
    "别",
    "甭",
    "免了",
    "不想",
    "不方便",
    "不同意",
    "不愿意",
    "不考虑",
    "不合适",
    "没必要",
    "不了",
    "不买",
    "不办",
    "不去",
    "不在",
    "否",
    "错了",
];
/// Cues that mean yes wherever they appear in a clause.
const YES_CUES: &[&str] = &[
    "可以",
    "好的",
    "好啊",
    "好呀",
    "好吧",
    "没问题",
    "同意",
    "愿意",
    "需要",
    "当然",
    "确定",
    "确认",
    "行啊",
    "行吧",
    "行的",
    "对的",
    "对啊",
    "是的",
    "是啊",
    "是呀",
    "嗯嗯",
    "没错",
    "有的",
    "在的",
    "方便",
    "收到",
    "明白",
    "知道了",
    "不错",
    "可不是",
    "好嘞",
    "好滴",
    "要的",
    "成交",
    "妥了",
    "感兴趣",
    "有兴趣",
    "没毛病",
];
/// One-character answers that mean yes only when they are (almost) the
/// whole clause: "是" alone is yes, "是谁" is not.
const SHORT_YES: &[char] = &[
    '是', '对', '嗯', '好', '行', '要', '可', '成', '中', '有', '在', '恩', '噢', '哦',
];
/// Sentence-final particles ignored when judging a short clause.
const PARTICLES: &[char] = &[
    '啊', '呀', '吧', '啦', '的', '嘛', '哈', '呢', '哦', '噢', '了', '呗', '喽', '哇',
];
const EN_NO: &[&str] = &[
    "no",
    "nope",
    "nah",
    "not",
    "don't",
    "dont",
    "never",
    "cancel",
    "stop",
    "wrong",
    "incorrect",
    "negative",
];
const EN_YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "right",
    "correct",
    "fine",
    "alright",
    "certainly",
    "absolutely",
    "definitely",
    "affirmative",
    "agree",
    "of course",
    "please do",
    "sounds good",
];

/// Reads a yes/no answer from a colloquial reply ("嗯嗯", "可以的", "不用了",
/// "算了吧", "no thanks"). A negation anywhere wins: "嗯，不需要" is a no.
/// `None` when the text answers neither way.
pub fn yes_no(text: &str) -> Option<YesNo> {
    let norm = normalize(text);
    let mut saw_yes = false;
    // English words anywhere, also inside mixed text such as "ok的".
    for word in norm.split(|c: char| !(c.is_ascii_alphabetic() || c == '\'')) {
        if EN_NO.contains(&word) {
            return Some(YesNo::No);
        }
        if EN_YES.contains(&word) {
            saw_yes = true;
        }
    }
    for clause in norm.split(|c: char| !(c.is_alphanumeric() || c == '\'') || c == ' ') {
        if clause.is_empty() || clause.is_ascii() {
            continue;
        }
        let mut c = clause.to_string();
        let mut yes_here = false;
        for p in YES_WITH_NEGATION {
            if c.contains(p) {
                yes_here = true;
                c = c.replace(p, "，");
            }
        }
        for p in NEUTRAL {
            c = neutralize(&c, p);
        }
        if NO_CUES.iter().any(|p| c.contains(p)) || c.trim_matches(PARTICLES) == "不" {
            return Some(YesNo::No);
        }
        if yes_here || YES_CUES.iter().any(|p| c.contains(p)) {
            saw_yes = true;
            continue;
        }
        // The clause minus particles, e.g. "是啊" -> "是", "嗯嗯嗯" -> "嗯嗯嗯".
        let core: Vec<char> = c
            .chars()
            .filter(|ch| !PARTICLES.contains(ch) && *ch != '，')
            .collect();
        if !core.is_empty() && core.len() <= 3 && core.iter().all(|ch| SHORT_YES.contains(ch)) {
            saw_yes = true;
        }
    }
    if saw_yes || EN_YES.iter().any(|p| p.contains(' ') && norm.contains(p)) {
        Some(YesNo::Yes)
    } else {
        None
    }
}

/// Blanks out `phrase` in `clause` unless it directly follows "不"/"没": in
/// "不要不要" the "要不要" is not a question, it is a repeated refusal.
fn neutralize(clause: &str, phrase: &str) -> String {
    let mut out = String::with_capacity(clause.len());
    let mut last = 0;
    for (pos, m) in clause.match_indices(phrase) {
        if pos < last {
            continue;
        }
        let after_bu = clause
            .get(..pos)
            .is_some_and(|b| b.ends_with('不') || b.ends_with('没'));
        out.push_str(clause.get(last..pos).unwrap_or_default());
        out.push_str(if after_bu { m } else { "，" });
        last = pos + m.len();
    }
    out.push_str(clause.get(last..).unwrap_or_default());
    out
}

fn cn_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' | '0' => 0,
        '一' | '壹' | '幺' | '1' => 1,
        '二' | '两' | '贰' | '2' => 2,
        '三' | '叁' | '3' => 3,
        '四' | '肆' | '4' => 4,
        '五' | '伍' | '5' => 5,
        '六' | '陆' | '6' => 6,
        '七' | '柒' | '7' => 7,
        '八' | '捌' | '8' => 8,
        '九' | '玖' | '9' => 9,
        _ => return None,
    })
}

fn cn_unit(c: char) -> Option<f64> {
    Some(match c {
        '十' | '拾' => 10.0,
        '百' | '佰' => 100.0,
        '千' | '仟' => 1000.0,
        '万' | '萬' => 1e4,
        '亿' => 1e8,
        _ => return None,
    })
}

/// A number found in text: char positions `[start, end)`, its value, and
/// whether it was a bare digit string (digits read one by one, as in phone
/// numbers and "一三八").
#[derive(Debug, Clone, PartialEq)]
struct NumSpan {
    start: usize,
    end: usize,
    value: f64,
    digit_string: bool,
}

/// Words in which a numeral character is not a number.
const NOT_NUMBERS: &[&str] = &[
    "一下",
    "一些",
    "一点",
    "一样",
    "一起",
    "一直",
    "一定",
    "一般",
    "一切",
    "一会",
    "一边",
    "一旦",
    "一向",
    "一律",
    "统一",
    "唯一",
    "万一",
    "千万",
    "一番",
    "一致",
    "一面",
    "一时",
    "一眼",
    "一再",
    "一路",
    "一口气",
    "一声",
    "十分",
    "万分",
    "百分之百",
];

fn masked_chars(text: &str) -> Vec<char> {
    let mut chars: Vec<char> = text.chars().collect();
    for w in NOT_NUMBERS {
        let wc: Vec<char> = w.chars().collect();
        let mut i = 0;
        while i + wc.len() <= chars.len() {
            // Not an idiom when part of a longer number ("十一点" is eleven
            // o'clock, "三万一" is 31,000) or of "十分钟" (ten minutes).
            let in_number = i > 0
                && chars
                    .get(i - 1)
                    .is_some_and(|&p| cn_digit(p).is_some() || cn_unit(p).is_some());
            let minutes = *w == "十分" && chars.get(i + wc.len()) == Some(&'钟');
            if chars.get(i..i + wc.len()) == Some(wc.as_slice()) && !in_number && !minutes {
                for c in chars.iter_mut().skip(i).take(wc.len()) {
                    *c = '·';
                }
                i += wc.len();
            } else {
                i += 1;
            }
        }
    }
    chars
}

/// Finds numbers (Arabic, Chinese, mixed like "1.5万"). `decimal_point`:
/// whether "点" between digits is a decimal point (not in clock times).
fn scan_numbers(chars: &[char], decimal_point: bool) -> Vec<NumSpan> {
    let is_part = |c: char| {
        cn_digit(c).is_some() || cn_unit(c).is_some() || c == '.' || c == ',' || c == '点'
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let Some(&c) = chars.get(i) else { break };
        // A span starts at a digit, or at 十 ("十五" = 15); other units alone
        // ("千万", "万一") are words, not numbers.
        if !(cn_digit(c).is_some() || c == '十') {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        while j < chars.len() {
            let Some(&cj) = chars.get(j) else { break };
            if !is_part(cj) {
                break;
            }
            // '.', ',' and '点' only inside a number, followed by a digit.
            if matches!(cj, '.' | ',' | '点') {
                let next_digit = chars.get(j + 1).is_some_and(|&n| cn_digit(n).is_some());
                let ok = match cj {
                    '.' => next_digit && chars.get(j - 1).is_some_and(|p| p.is_ascii_digit()),
                    ',' => {
                        chars
                            .get(j + 1..j + 4)
                            .is_some_and(|s| s.iter().all(|d| d.is_ascii_digit()))
                            && chars.get(j + 4).is_none_or(|d| !d.is_ascii_digit())
                    }
                    _ => decimal_point && next_digit,
                };
                if !ok {
                    break;
                }
            }
            j += 1;
        }
        let span: Vec<char> = chars.get(start..j).map(|s| s.to_vec()).unwrap_or_default();
        if let Some((value, digit_string)) = parse_number(&span).filter(|(v, _)| v.is_finite()) {
            out.push(NumSpan {
                start,
                end: j,
                value,
                digit_string,
            });
        }
        i = j.max(i + 1);
    }
    out
}

/// Value of one numeral span; `None` when it is not a number after all.
fn parse_number(span: &[char]) -> Option<(f64, bool)> {
    let span: Vec<char> = span.iter().copied().filter(|&c| c != ',').collect();
    let (int_part, frac_part) = match span.iter().position(|&c| c == '.' || c == '点') {
        Some(p) => (span.get(..p)?, span.get(p + 1..)),
        None => (span.as_slice(), None),
    };
    let has_unit = int_part.iter().any(|&c| cn_unit(c).is_some());
    let range = match int_part {
        [a, b] if !a.is_ascii_digit() && !b.is_ascii_digit() => {
            match (cn_digit(*a), cn_digit(*b)) {
                (Some(x), Some(y)) if x >= 1 && y == x + 1 => Some(f64::from(x) + 0.5),
                _ => None,
            }
        }
        _ => None,
    };
    if let (Some(v), None) = (range, frac_part) {
        // "两三个", "五六": an approximate range, not the digit string 23.
        return Some((v, false));
    }
    let mut value = if !has_unit {
        // Digit string: "138", "一三八", "2024".
        let mut v = 0.0f64;
        for &c in int_part {
            v = v * 10.0 + f64::from(cn_digit(c)?);
        }
        v
    } else {
        parse_with_units(int_part)?
    };
    // Chinese digits read one by one ("一三八") or a long Arabic run are
    // identifiers (phone, account numbers), not quantities.
    let arabic = int_part.iter().all(char::is_ascii_digit);
    let mut digit_string = !has_unit
        && frac_part.is_none()
        && ((!arabic && int_part.len() > 1) || (arabic && int_part.len() >= 7));
    if let Some(frac) = frac_part {
        let mut scale = 0.1;
        let mut digits_done = false;
        let mut mult = 1.0;
        for &c in frac {
            if let (false, Some(d)) = (digits_done, cn_digit(c)) {
                value += f64::from(d) * scale;
                scale /= 10.0;
            } else if let Some(u) = cn_unit(c) {
                // "1.5万": the unit applies to the whole decimal.
                digits_done = true;
                mult *= u;
            } else {
                return None;
            }
        }
        value *= mult;
        digit_string = false;
    }
    Some((value, digit_string))
}

fn parse_with_units(chars: &[char]) -> Option<f64> {
    let mut total = 0.0f64; // completed 亿 groups
    let mut wan = 0.0f64; // completed 万 group below 亿
    let mut section = 0.0f64; // below 万
    let mut number: Option<f64> = None;
    let mut last_unit = 0.0f64;
    let mut i = 0;
    while i < chars.len() {
        let c = *chars.get(i)?;
        if c.is_ascii_digit() {
            // An Arabic run inside a Chinese number: "3千", "2万5".
            let mut v = 0.0;
            while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                v = v * 10.0 + f64::from(d);
                i += 1;
            }
            number = Some(v);
            continue;
        }
        if let Some(d) = cn_digit(c) {
            let prev = i
                .checked_sub(1)
                .and_then(|p| chars.get(p))
                .and_then(|&p| cn_digit(p));
            number = Some(match (number, prev) {
                // "两三千", "五六百": an approximate range, take the middle.
                (Some(n), Some(pd)) if d == pd + 1 && pd >= 1 => n + 0.5,
                (Some(n), _) => n * 10.0 + f64::from(d),
                (None, _) => f64::from(d),
            });
        } else if let Some(u) = cn_unit(c) {
            let n = number.take().unwrap_or(if u == 10.0 { 1.0 } else { 0.0 });
            if u >= 1e4 {
                if u >= 1e8 {
                    total = (total + wan + section + n) * u;
                    wan = 0.0;
                } else {
                    wan = (wan + section + n) * u;
                }
                section = 0.0;
            } else {
                section += n * u;
            }
            last_unit = u;
        }
        i += 1;
    }
    if let Some(n) = number {
        // "两千五" = 2500, "三万五" = 35000: a lone trailing digit takes the
        // next smaller unit.
        let lone = chars.len() >= 2
            && chars.last().and_then(|&c| cn_digit(c)).is_some()
            && chars
                .get(chars.len() - 2)
                .and_then(|&c| cn_unit(c))
                .is_some()
            && n < 10.0;
        if lone && last_unit >= 100.0 {
            section += n * last_unit / 10.0;
        } else {
            section += n;
        }
    }
    Some(total + wan + section)
}

/// All numbers in the text, in order: "三百五十" → 350, "两万" → 20000,
/// "1.5万" → 15000, "三点五" → 3.5, "42" → 42. Idioms such as "一下" and
/// "千万" are not numbers.
pub fn numbers(text: &str) -> Vec<f64> {
    let chars = masked_chars(&normalize(text));
    scan_numbers(&chars, true)
        .into_iter()
        .map(|s| s.value)
        .collect()
}

const MONEY_UNITS: &[&str] = &["元", "块", "圆", "人民币", "rmb", "yuan", "毛", "角"];
const MONEY_CONTEXT: &[&str] = &[
    "钱", "价", "费", "额度", "预算", "贷", "工资", "收入", "还款", "存款", "首付", "月供", "报价",
    "金额", "利息", "万", "千",
];

/// An amount of money in yuan: "3000元", "5万块", "二十万左右", "两块五",
/// "¥99". Prefers a number with a currency word; otherwise takes the first
/// number in a money context ("预算二十万左右"); `None` if there is none.
pub fn money(text: &str) -> Option<f64> {
    let norm = normalize(text);
    let chars = masked_chars(&norm);
    let spans = scan_numbers(&chars, true);
    let rest = |s: &NumSpan| -> String {
        chars
            .get(s.end..)
            .map(|r| r.iter().collect::<String>())
            .unwrap_or_default()
    };
    for (k, s) in spans.iter().enumerate() {
        let after = rest(s);
        let after = after.trim_start_matches([' ', '多', '来', '余']);
        let before_currency = s
            .start
            .checked_sub(1)
            .and_then(|p| chars.get(p))
            .is_some_and(|c| matches!(c, '¥' | '￥' | '$'));
        let unit = MONEY_UNITS.iter().find(|u| after.starts_with(*u));
        if let Some(u) = unit {
            let mut v = s.value;
            if matches!(*u, "毛" | "角") {
                v /= 10.0;
            } else if let Some(next) = spans.get(k + 1) {
                // "两块五" = 2.5, "三块五毛" = 3.5: a single digit right after
                // the unit is tenths.
                let gap = next.start.saturating_sub(s.end);
                if gap == u.chars().count() + (rest(s).chars().count() - after.chars().count())
                    && next.value < 10.0
                    && !next.digit_string
                    && !rest(next).starts_with(['元', '块'])
                {
                    v += next.value / 10.0;
                }
            }
            return Some(v);
        }
        if before_currency {
            return Some(s.value);
        }
    }
    let context = MONEY_CONTEXT.iter().any(|w| norm.contains(w));
    spans
        .iter()
        .find(|s| !s.digit_string && (context || s.value >= 1000.0))
        .map(|s| s.value)
}

fn phone_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '洞' => Some('0'),
        _ => cn_digit(c).and_then(|d| char::from_digit(d, 10)),
    }
}

/// Phone numbers, as digit strings: mainland mobiles ("13812345678", spoken
/// "一三八 一二三四 五六七八", "+86 138-1234-5678"), landlines with area code
/// ("010-12345678", "0571 8888 6666"), 400/800 service numbers, and 7–8 digit
/// local numbers when the text talks about a phone.
pub fn phone_numbers(text: &str) -> Vec<String> {
    let norm = normalize(text);
    let phone_context = [
        "电话", "号码", "座机", "手机", "打", "拨", "联系", "phone", "call",
    ]
    .iter()
    .any(|w| norm.contains(w));
    let chars: Vec<char> = norm.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let mut digits = String::new();
        let mut j = i;
        let plus = chars.get(i) == Some(&'+');
        if plus {
            j += 1;
        }
        while j < chars.len() {
            let Some(&c) = chars.get(j) else { break };
            if let Some(d) = phone_digit(c) {
                digits.push(d);
            } else if matches!(c, ' ' | '-' | '—' | '–' | '.' | '、') && !digits.is_empty() {
                // Separators are allowed only between digits.
                if chars.get(j + 1).is_none_or(|&n| phone_digit(n).is_none()) {
                    break;
                }
            } else {
                break;
            }
            j += 1;
        }
        if digits.is_empty() {
            i += 1;
            continue;
        }
        let d = if digits.len() == 13 && digits.starts_with("86") {
            digits.get(2..).unwrap_or_default().to_string()
        } else {
            digits
        };
        let b = d.as_bytes();
        let mobile = d.len() == 11
            && b.first() == Some(&b'1')
            && b.get(1).is_some_and(|x| (b'3'..=b'9').contains(x));
        let landline = (10..=12).contains(&d.len()) && d.starts_with('0') && !d.starts_with("00");
        let service = d.len() == 10 && (d.starts_with("400") || d.starts_with("800"));
        let local = (7..=8).contains(&d.len())
            && phone_context
            && !d.starts_with('0')
            && !d.starts_with('1');
        if mobile || landline || service || local {
            out.push(d);
        }
        i = j.max(i + 1);
    }
    out
}

/// A calendar date and time of day, with its weekday (Monday = 1 … Sunday = 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DateTimeRef {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub weekday: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m >= 12 { (y + 1, 1) } else { (y, m + 1) };
    (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as u32
}

impl DateTimeRef {
    /// A reference time; the weekday is computed from the date, and
    /// out-of-range fields are clamped.
    pub fn new(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> Self {
        let month = month.clamp(1, 12);
        let day = day.clamp(1, days_in_month(year, month));
        let days = days_from_civil(year, month, day);
        DateTimeRef {
            year,
            month,
            day,
            hour: hour.min(23),
            minute: minute.min(59),
            weekday: weekday_of(days),
        }
    }

    fn days(&self) -> i64 {
        let month = self.month.clamp(1, 12);
        days_from_civil(
            self.year,
            month,
            self.day.clamp(1, days_in_month(self.year, month)),
        )
    }

    fn from_minutes(total: i64) -> Self {
        let days = total.div_euclid(1440);
        let rem = total.rem_euclid(1440);
        let (y, m, d) = civil_from_days(days);
        DateTimeRef::new(y, m, d, (rem / 60) as u32, (rem % 60) as u32)
    }

    fn minutes(&self) -> i64 {
        self.days() * 1440 + i64::from(self.hour.min(23)) * 60 + i64::from(self.minute.min(59))
    }
}

fn weekday_of(days: i64) -> u32 {
    ((days + 3).rem_euclid(7) + 1) as u32
}

/// Replaces Chinese numerals by Arabic ones ("三点半" → "3点半") so that the
/// date patterns only deal with digits. "点" is never a decimal point here.
fn arabize(norm: &str) -> String {
    let chars: Vec<char> = norm.chars().collect();
    let masked = masked_chars(norm);
    let spans = scan_numbers(&masked, false);
    let mut out = String::with_capacity(norm.len());
    let mut i = 0;
    for s in spans {
        out.extend(chars.get(i..s.start).unwrap_or_default());
        out.push_str(&format!("{}", s.value.round() as i64));
        i = s.end;
    }
    out.extend(chars.get(i..).unwrap_or_default());
    out
}

struct DatePatterns {
    offset: Regex,
    week: Regex,
    month_day: Regex,
    day_only: Regex,
    clock: Regex,
    year: Regex,
}

fn patterns() -> Option<&'static DatePatterns> {
    static P: OnceLock<Option<DatePatterns>> = OnceLock::new();
    P.get_or_init(|| {
        Some(DatePatterns {
            offset: Regex::new(r"(\d+|半)\s*个?\s*(半)?\s*(分钟|分|小时|钟头|天|日|周|星期|礼拜|月)\s*(以后|之后|后|过后)").ok()?,
            week: Regex::new(r"(下下|下个?|这个?|本|上个?)?\s*(周|星期|礼拜)\s*([1-7]|日|天|末)").ok()?,
            month_day: Regex::new(r"(\d{1,2})\s*月\s*(\d{1,2})\s*(日|号)?").ok()?,
            day_only: Regex::new(r"(\d{1,2})\s*(日|号)").ok()?,
            clock: Regex::new(r"(\d{1,2})\s*(?:(?:点|时)\s*(?:(1)\s*刻|(3)\s*刻|(半)|(\d{1,2})\s*分?)?|[:：]\s*(\d{2}))").ok()?,
            year: Regex::new(r"(\d{4})\s*年").ok()?,
        })
    })
    .as_ref()
}

/// Resolves a date/time expression against `now` (the call's local time):
/// "明天下午三点", "下周三上午", "月底", "后天", "过两天", "周五晚上",
/// "3月5号", "半小时后", "一会儿", "10:30". Dates without a time of day keep
/// the current time of day; a period without a clock time takes a typical
/// hour (上午 9:00, 中午 12:00, 下午 14:00, 晚上 19:00). A bare clock time
/// that has already passed today is read as the same hour in the afternoon
/// when that is still ahead ("三点" said at 10:00 is 15:00), otherwise as
/// tomorrow. Relative weekdays use Monday-based weeks ("下周三" is the
/// Wednesday of next week; a bare "周三" is the next Wednesday, today
/// included). `None` when the text holds no date or time.
pub fn datetime(text: &str, now: &DateTimeRef) -> Option<DateTimeRef> {
    let p = patterns()?;
    let norm = normalize(text);
    let t = arabize(&norm);
    let now = DateTimeRef::new(now.year, now.month, now.day, now.hour, now.minute);
    let today = now.days();

    // Offsets from now: "半小时后", "3天后", "过两天", "一会儿".
    if let Some(c) = p.offset.captures(&t) {
        let n: f64 = match c.get(1).map(|m| m.as_str()) {
            Some("半") => 0.5,
            Some(s) => s.parse().unwrap_or(0.0),
            None => 0.0,
        } + if c.get(2).is_some() { 0.5 } else { 0.0 };
        let unit = c.get(3).map_or("", |m| m.as_str());
        let minutes = match unit {
            "分钟" | "分" => n,
            "小时" | "钟头" => n * 60.0,
            "天" | "日" => n * 1440.0,
            "周" | "星期" | "礼拜" => n * 7.0 * 1440.0,
            _ => n * 30.0 * 1440.0,
        };
        // Nobody schedules a call-back decades ahead: clamp absurd offsets
        // (ASR garbage such as "99999天后") to ten years.
        let minutes = minutes.clamp(0.0, 3650.0 * 1440.0);
        if matches!(unit, "分钟" | "分" | "小时" | "钟头") {
            return Some(DateTimeRef::from_minutes(
                now.minutes() + minutes.round() as i64,
            ));
        }
        let days = today + (minutes / 1440.0).round() as i64;
        return Some(with_time(days, &t, &now, p, true));
    }
    for (w, mins) in [
        ("一会", 30),
        ("待会", 30),
        ("等会", 30),
        ("稍后", 30),
        ("晚点", 60),
        ("过会", 30),
        ("马上", 5),
        ("立刻", 5),
    ] {
        if norm.contains(w) {
            return Some(DateTimeRef::from_minutes(now.minutes() + mins));
        }
    }
    if let Some(n) = t
        .find("过")
        .and_then(|i| t.get(i + "过".len()..))
        .and_then(|rest| {
            let rest = rest.trim_start();
            if rest.starts_with("几天") {
                Some(3)
            } else {
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                let after = rest.get(digits.len()..)?;
                (!digits.is_empty() && after.starts_with('天'))
                    .then(|| digits.parse::<i64>().ok())
                    .flatten()
            }
        })
    {
        return Some(with_time(today + n.clamp(0, 3650), &t, &now, p, true));
    }

    let mut date: Option<i64> = None;
    for (w, d) in [
        ("大后天", 3),
        ("后天", 2),
        ("明天", 1),
        ("明日", 1),
        ("明早", 1),
        ("明晚", 1),
        ("今天", 0),
        ("今日", 0),
        ("今晚", 0),
        ("今早", 0),
        ("大前天", -3),
        ("前天", -2),
        ("昨天", -1),
        ("昨晚", -1),
    ] {
        if t.contains(w) {
            date = Some(today + d);
            break;
        }
    }
    if date.is_none()
        && let Some(c) = p.week.captures(&t)
    {
        let target = match c.get(3).map_or("", |m| m.as_str()) {
            "日" | "天" => 7,
            "末" => 6,
            s => s.parse::<i64>().unwrap_or(1),
        };
        let wd = i64::from(now.weekday);
        let monday = today - (wd - 1);
        let d = match c.get(1).map(|m| m.as_str().trim_end_matches('个')) {
            Some("下下") => monday + 14 + target - 1,
            Some("下") => monday + 7 + target - 1,
            Some("上") => monday - 7 + target - 1,
            Some(_) => monday + target - 1,
            // A bare weekday means the next one (today counts).
            None => {
                if target >= wd {
                    monday + target - 1
                } else {
                    monday + 7 + target - 1
                }
            }
        };
        date = Some(d);
    }
    if date.is_none() {
        let year = p
            .year
            .captures(&t)
            .and_then(|c| c.get(1)?.as_str().parse::<i32>().ok())
            .or_else(|| t.contains("明年").then_some(now.year + 1))
            .or_else(|| t.contains("去年").then_some(now.year - 1));
        if let Some(c) = p.month_day.captures(&t) {
            let m: u32 = c
                .get(1)
                .and_then(|m| m.as_str().parse().ok())
                .unwrap_or(now.month);
            let d: u32 = c.get(2).and_then(|m| m.as_str().parse().ok()).unwrap_or(1);
            if (1..=12).contains(&m) {
                let mut y = year.unwrap_or(now.year);
                // "3月5号" said in December means next March.
                if year.is_none() && days_from_civil(y, m, d.clamp(1, days_in_month(y, m))) < today
                {
                    y += 1;
                }
                date = Some(days_from_civil(y, m, d.clamp(1, days_in_month(y, m))));
            }
        } else if t.contains("月底")
            || t.contains("月末")
            || t.contains("月初")
            || t.contains("下个月")
            || t.contains("下月")
        {
            let (mut y, mut m) = (now.year, now.month);
            let next = t.contains("下个月") || t.contains("下月");
            if next || (t.contains("月初") && now.day > 10) {
                (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            }
            let d = if t.contains("月底") || t.contains("月末") {
                days_in_month(y, m)
            } else if let Some(c) = p.day_only.captures(&t) {
                c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(1)
            } else if next && !t.contains("月初") {
                now.day
            } else {
                1
            };
            date = Some(days_from_civil(y, m, d.clamp(1, days_in_month(y, m))));
        } else if let Some(c) = p.day_only.captures(&t) {
            let d: u32 = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(1);
            if (1..=31).contains(&d) {
                let (mut y, mut m) = (now.year, now.month);
                if d < now.day {
                    (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                }
                date = Some(days_from_civil(y, m, d.clamp(1, days_in_month(y, m))));
            }
        }
    }
    let has_time = p.clock.is_match(&t) || period(&t).is_some();
    match date {
        Some(d) => Some(with_time(d, &t, &now, p, true)),
        None if has_time => Some(with_time(today, &t, &now, p, false)),
        None => None,
    }
}

/// Part of day named in the text, with its default hour.
fn period(t: &str) -> Option<(&'static str, u32)> {
    const PERIODS: &[(&str, &str, u32)] = &[
        ("凌晨", "凌晨", 5),
        ("早上", "上午", 8),
        ("早晨", "上午", 8),
        ("明早", "上午", 8),
        ("今早", "上午", 8),
        ("上午", "上午", 9),
        ("中午", "中午", 12),
        ("下午", "下午", 14),
        ("傍晚", "晚上", 18),
        ("晚上", "晚上", 19),
        ("今晚", "晚上", 19),
        ("明晚", "晚上", 19),
        ("昨晚", "晚上", 19),
        ("夜里", "晚上", 21),
        ("晚些", "晚上", 19),
    ];
    PERIODS
        .iter()
        .find(|(w, _, _)| t.contains(w))
        .map(|(_, p, h)| (*p, *h))
}

/// Puts a time of day on a date. `explicit_date`: the date was named, so a
/// past time must not roll over to tomorrow.
fn with_time(
    days: i64,
    t: &str,
    now: &DateTimeRef,
    p: &DatePatterns,
    explicit_date: bool,
) -> DateTimeRef {
    let per = period(t);
    let clock = p.clock.captures(t).and_then(|c| {
        let h: u32 = c.get(1)?.as_str().parse().ok()?;
        // Groups: 2 = "一刻", 3 = "三刻", 4 = "半", 5 = minutes, 6 = ":MM".
        let m: u32 = if c.get(2).is_some() {
            15
        } else if c.get(3).is_some() {
            45
        } else if c.get(4).is_some() {
            30
        } else {
            c.get(5)
                .or(c.get(6))
                .and_then(|m| m.as_str().parse().ok())
                .unwrap_or(0)
        };
        (h <= 24 && m < 60).then_some((h % 24, m))
    });
    let (mut hour, minute) = match (clock, per) {
        (Some((h, m)), _) => (h, m),
        (None, Some((_, h))) => (h, 0),
        (None, None) => (now.hour, now.minute),
    };
    if let (Some(_), Some((name, _))) = (clock, per) {
        match name {
            "下午" | "晚上" if hour < 12 => hour += 12,
            "中午" if hour < 6 => hour += 12,
            "凌晨" if hour == 12 => hour = 0,
            _ => {}
        }
    }
    let mut at = days * 1440 + i64::from(hour) * 60 + i64::from(minute);
    if !explicit_date && per.is_none() && clock.is_some() && at <= now.minutes() {
        // "三点" said at 10:00 means 15:00; said at 16:00 it means tomorrow 3:00.
        if hour < 12 && at + 12 * 60 > now.minutes() {
            at += 12 * 60;
        } else {
            at += 1440;
        }
    } else if !explicit_date && at <= now.minutes() && per.is_some() {
        at += 1440;
    }
    DateTimeRef::from_minutes(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_colloquial() {
        for t in [
            "嗯嗯",
            "可以的",
            "好的",
            "行",
            "对",
            "是的",
            "没问题",
            "嗯，好的好的",
            "OK",
            "yes please",
            "Sure!",
            "是啊",
            "恩",
            "对对对",
            "好吧那就这样",
            "ok的",
            "要的要的",
            "当然可以",
        ] {
            assert_eq!(yes_no(t), Some(YesNo::Yes), "{t}");
        }
        for t in [
            "不用了",
            "算了吧",
            "不需要",
            "不是",
            "不要不要",
            "嗯，不需要了",
            "我不感兴趣",
            "no thanks",
            "Nope",
            "不了不了",
            "没有",
            "不",
            "不好意思，不用了",
            "没有没有",
            "不行不行",
        ] {
            assert_eq!(yes_no(t), Some(YesNo::No), "{t}");
        }
        for t in [
            "",
            "你是谁",
            "电费多少钱",
            "是不是要交费",
            "what time is it",
            "不清楚",
            "我再考虑一下",
        ] {
            assert_eq!(yes_no(t), None, "{t}");
        }
    }

    #[test]
    fn chinese_and_arabic_numbers() {
        assert_eq!(numbers("三百五十"), vec![350.0]);
        assert_eq!(numbers("两万"), vec![20000.0]);
        assert_eq!(numbers("1.5万"), vec![15000.0]);
        assert_eq!(numbers("三点五"), vec![3.5]);
        assert_eq!(numbers("十五个，还有42个"), vec![15.0, 42.0]);
        assert_eq!(numbers("两千五"), vec![2500.0]);
        assert_eq!(numbers("三万五"), vec![35000.0]);
        assert_eq!(numbers("一百零五"), vec![105.0]);
        assert_eq!(numbers("一亿两千万"), vec![120_000_000.0]);
        assert_eq!(numbers("1,200"), vec![1200.0]);
        assert_eq!(numbers("十一点"), vec![11.0]);
        assert_eq!(numbers("两三个"), vec![2.5]);
        assert_eq!(numbers("三万一"), vec![31000.0]);
        assert_eq!(numbers("等一下，千万别"), Vec::<f64>::new());
        assert!(numbers("").is_empty());
    }

    #[test]
    fn money_amounts() {
        assert_eq!(money("二十万左右"), Some(200_000.0));
        assert_eq!(money("5万块"), Some(50_000.0));
        assert_eq!(money("3000元"), Some(3000.0));
        assert_eq!(money("两块五"), Some(2.5));
        assert_eq!(money("大概两三千"), Some(2500.0));
        assert_eq!(money("¥99"), Some(99.0));
        assert_eq!(money("预算大概八千"), Some(8000.0));
        assert_eq!(money("月供3000左右"), Some(3000.0));
        assert_eq!(money("我明天下午三点有空"), None);
        assert_eq!(money("没钱"), None);
    }

    #[test]
    fn phone_numbers_written_and_spoken() {
        assert_eq!(phone_numbers("我的手机是13812345678"), vec!["13812345678"]);
        assert_eq!(
            phone_numbers("一三八 一二三四 五六七八"),
            vec!["13812345678"]
        );
        assert_eq!(phone_numbers("幺三九幺二三四五六七八"), vec!["13912345678"]);
        assert_eq!(phone_numbers("+86 138-1234-5678"), vec!["13812345678"]);
        assert_eq!(phone_numbers("座机010-12345678"), vec!["01012345678"]);
        assert_eq!(phone_numbers("打4008123123"), vec!["4008123123"]);
        assert!(phone_numbers("我欠了12345元").is_empty());
        assert!(phone_numbers("订单号2023").is_empty());
    }

    fn now() -> DateTimeRef {
        // Wednesday 2026-11-25 10:00.
        DateTimeRef::new(2026, 11, 25, 10, 0)
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Option<DateTimeRef> {
        Some(DateTimeRef::new(y, mo, d, h, mi))
    }

    #[test]
    fn weekday_is_computed() {
        assert_eq!(now().weekday, 3);
        assert_eq!(DateTimeRef::new(2024, 2, 29, 0, 0).weekday, 4);
        assert_eq!(DateTimeRef::new(2026, 11, 29, 0, 0).weekday, 7);
    }

    #[test]
    fn dates_resolved_against_now() {
        let n = now();
        assert_eq!(datetime("明天下午三点", &n), at(2026, 11, 26, 15, 0));
        assert_eq!(datetime("下周三上午", &n), at(2026, 12, 2, 9, 0));
        assert_eq!(datetime("月底", &n), at(2026, 11, 30, 10, 0));
        assert_eq!(datetime("后天", &n), at(2026, 11, 27, 10, 0));
        assert_eq!(datetime("过两天再说", &n), at(2026, 11, 27, 10, 0));
        assert_eq!(datetime("周五晚上", &n), at(2026, 11, 27, 19, 0));
        assert_eq!(datetime("周一", &n), at(2026, 11, 30, 10, 0));
        assert_eq!(datetime("3月5号", &n), at(2027, 3, 5, 10, 0));
        assert_eq!(datetime("12月1日上午十点半", &n), at(2026, 12, 1, 10, 30));
        assert_eq!(datetime("半小时后", &n), at(2026, 11, 25, 10, 30));
        assert_eq!(datetime("十分钟后", &n), at(2026, 11, 25, 10, 10));
        assert_eq!(datetime("下午两点一刻", &n), at(2026, 11, 25, 14, 15));
        assert_eq!(datetime("明天十一点", &n), at(2026, 11, 26, 11, 0));
        assert_eq!(datetime("下下周二", &n), at(2026, 12, 8, 10, 0));
        assert_eq!(datetime("两个小时以后", &n), at(2026, 11, 25, 12, 0));
        assert_eq!(datetime("一会儿再打", &n), at(2026, 11, 25, 10, 30));
        assert_eq!(datetime("三点", &n), at(2026, 11, 25, 15, 0));
        assert_eq!(datetime("14:30", &n), at(2026, 11, 25, 14, 30));
        assert_eq!(datetime("今晚八点", &n), at(2026, 11, 25, 20, 0));
        assert_eq!(datetime("下个月5号", &n), at(2026, 12, 5, 10, 0));
        assert_eq!(datetime("你好", &n), None);
        assert_eq!(datetime("", &n), None);
    }

    #[test]
    fn dates_cross_year_end() {
        let n = DateTimeRef::new(2026, 12, 31, 23, 50);
        assert_eq!(datetime("半小时后", &n), at(2027, 1, 1, 0, 20));
        assert_eq!(datetime("明天", &n), at(2027, 1, 1, 23, 50));
        assert_eq!(datetime("下个月初", &n), at(2027, 1, 1, 23, 50));
    }
}
