//! Numbers in Mandarin text, both ways.
//!
//! * [`spell_numbers`] writes Arabic numbers out as they are read aloud,
//!   before synthesis: the Kokoro front end skips or garbles digits
//!   ("35.5元" came out as "元"), and scripts are full of prices, dates,
//!   order and phone numbers. Long digit strings and years are read digit by
//!   digit (订单号20481 → 二零四八一, 2026年 → 二零二六年), other numbers as
//!   quantities (399元 → 三百九十九元, 35.5 → 三十五点五, 50% → 百分之五十,
//!   9:30 → 九点三十).
//! * [`to_digits`] turns Chinese numerals into Arabic digits. It is used
//!   only to score recognition (both the reference and the hypothesis are
//!   converted, so "三十五" and "35" count as the same words, and nothing
//!   else changes).
//!
//! Pure functions: no IO, no allocation beyond the output.

const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// Measure words after which 2 is read 两 (两个, 两天, 两次).
const LIANG_BEFORE: &str = "个位件台次天张瓶盒套本只条家点年种份辆周";

/// Digit strings at least this long are identifiers, read digit by digit.
const ID_DIGITS: usize = 5;

/// Reads a whole number below 10^16 as a quantity: 399 → 三百九十九,
/// 10 → 十, 10010 → 一万零一十.
pub fn integer_words(n: u64) -> String {
    if n == 0 {
        return "零".into();
    }
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push(rest % 10_000);
        rest /= 10_000;
    }
    let units = ["", "万", "亿", "万亿"];
    let mut out = String::new();
    let mut need_zero = false;
    for (i, g) in groups.iter().enumerate().rev() {
        if *g == 0 {
            need_zero = !out.is_empty();
            continue;
        }
        if need_zero || (!out.is_empty() && *g < 1000) {
            out.push('零');
        }
        need_zero = false;
        out.push_str(&group_words(*g));
        out.push_str(units.get(i).copied().unwrap_or(""));
    }
    // 一十五 is said 十五 at the start of a number.
    if let Some(rest) = out.strip_prefix("一十") {
        out = format!("十{rest}");
    }
    out
}

/// 1–9999 without the leading-一十 rule.
fn group_words(g: u64) -> String {
    let places = [(1000, '千'), (100, '百'), (10, '十')];
    let mut out = String::new();
    let mut zero = false;
    let mut started = false;
    let mut rest = g;
    for (p, unit) in places {
        let d = rest / p;
        rest %= p;
        if d == 0 {
            zero = started;
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        out.push(DIGITS[d as usize]);
        out.push(unit);
        started = true;
    }
    if rest > 0 {
        if zero {
            out.push('零');
        }
        out.push(DIGITS[rest as usize]);
    }
    out
}

fn digit_by_digit(digits: &str) -> String {
    digits
        .chars()
        .filter_map(|c| c.to_digit(10).and_then(|d| DIGITS.get(d as usize)))
        .collect()
}

/// Writes the Arabic numbers in `text` out in Mandarin words (see the module
/// doc). Text without digits comes back unchanged.
pub fn spell_numbers(text: &str) -> String {
    if !text.chars().any(|c| c.is_ascii_digit()) {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !c.is_ascii_digit() {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        let next = chars.get(i).copied();
        let after = chars.get(i + 1).copied();
        // A time: 9:30 → 九点三十, 9:05 → 九点零五.
        if next == Some(':') && after.is_some_and(|c| c.is_ascii_digit()) {
            let m_start = i + 1;
            let mut j = m_start;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let minutes: String = chars[m_start..j].iter().collect();
            if let (Ok(h), Ok(m)) = (run.parse::<u64>(), minutes.parse::<u64>())
                && h < 24
                && m < 60
                && minutes.len() == 2
            {
                out.push_str(&integer_words(h));
                out.push('点');
                if m > 0 {
                    if m < 10 {
                        out.push('零');
                    }
                    out.push_str(&integer_words(m));
                } else {
                    out.push('整');
                }
                i = j;
                continue;
            }
        }
        // A decimal: 35.5 → 三十五点五.
        let mut fraction = None;
        if next == Some('.') && after.is_some_and(|c| c.is_ascii_digit()) {
            let f_start = i + 1;
            let mut j = f_start;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            fraction = Some(chars[f_start..j].iter().collect::<String>());
            i = j;
        }
        let percent = chars.get(i) == Some(&'%') || chars.get(i) == Some(&'％');
        let is_year = fraction.is_none() && run.len() == 4 && chars.get(i) == Some(&'年');
        let is_id = fraction.is_none()
            && !percent
            && (run.len() >= ID_DIGITS || (run.len() > 1 && run.starts_with('0')));
        let words = if is_year || is_id {
            digit_by_digit(&run)
        } else {
            let whole = match run.parse::<u64>() {
                Ok(n) if n < 10_000_000_000_000_000 => {
                    if n == 2
                        && fraction.is_none()
                        && LIANG_BEFORE.contains(chars.get(i).copied().unwrap_or(' '))
                    {
                        "两".to_string()
                    } else {
                        integer_words(n)
                    }
                }
                _ => digit_by_digit(&run),
            };
            match &fraction {
                Some(f) => format!("{whole}点{}", digit_by_digit(f)),
                None => whole,
            }
        };
        if percent {
            out.push_str("百分之");
            out.push_str(&words);
            i += 1;
        } else {
            out.push_str(&words);
        }
    }
    out
}

fn digit_value(c: char) -> Option<u64> {
    match c {
        '零' | '〇' => Some(0),
        '一' | '幺' => Some(1),
        '二' | '两' => Some(2),
        '三' => Some(3),
        '四' => Some(4),
        '五' => Some(5),
        '六' => Some(6),
        '七' => Some(7),
        '八' => Some(8),
        '九' => Some(9),
        _ => c.to_digit(10).map(u64::from),
    }
}

fn unit_value(c: char) -> Option<u64> {
    match c {
        '十' => Some(10),
        '百' => Some(100),
        '千' => Some(1000),
        '万' => Some(10_000),
        '亿' => Some(100_000_000),
        _ => None,
    }
}

/// Parses a run of numeral characters with units (三百九十九, 一万零一十,
/// 十五) into its value.
fn parse_quantity(run: &[char]) -> Option<u64> {
    let mut total: u64 = 0;
    let mut section: u64 = 0;
    let mut digit: Option<u64> = None;
    for &c in run {
        if let Some(d) = digit_value(c) {
            digit = Some(d);
        } else if let Some(u) = unit_value(c) {
            if u >= 10_000 {
                section = section.checked_add(digit.take().unwrap_or(0))?;
                let value = if section == 0 { 1 } else { section };
                total = total.checked_add(value.checked_mul(u)?)?;
                section = 0;
            } else {
                section = section.checked_add(digit.take().unwrap_or(1).checked_mul(u)?)?;
            }
        } else {
            return None;
        }
    }
    Some(total + section + digit.unwrap_or(0))
}

/// Rewrites Chinese numerals as Arabic digits, for scoring recognition:
/// 三百九十九 → 399, 二零四八一 → 20481, 三十五点五 → 35.5, 两 → 2. Runs of
/// bare digits become digit strings; runs with units become their value.
/// Applied to both sides of a comparison it removes only the difference
/// between writing a number in characters or in digits.
pub fn to_digits(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_num = |c: char| digit_value(c).is_some() || unit_value(c).is_some();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_num(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_num(chars[i]) {
            i += 1;
        }
        let run = &chars[start..i];
        out.push_str(&run_to_digits(run));
        // 点 between numerals is a decimal point: 三十五点五 → 35.5.
        if chars.get(i) == Some(&'点')
            && chars.get(i + 1).is_some_and(|c| digit_value(*c).is_some())
            && run.iter().all(|c| is_num(*c))
            && !chars
                .get(i + 2)
                .is_some_and(|c| matches!(c, '钟' | '半' | '到' | '整'))
        {
            let f_start = i + 1;
            let mut j = f_start;
            while j < chars.len() && digit_value(chars[j]).is_some() {
                j += 1;
            }
            // A time (九点三十分) stays a time; only a bare fraction is a decimal.
            if !matches!(chars.get(j), Some('分' | '点' | '十')) {
                out.push('.');
                out.extend(
                    chars[f_start..j].iter().filter_map(|c| {
                        digit_value(*c).and_then(|d| char::from_digit(d as u32, 10))
                    }),
                );
                i = j;
            }
        }
    }
    out
}

fn run_to_digits(run: &[char]) -> String {
    let has_unit = run.iter().any(|c| unit_value(*c).is_some());
    if !has_unit {
        return run
            .iter()
            .filter_map(|c| digit_value(*c).and_then(|d| char::from_digit(d as u32, 10)))
            .collect();
    }
    match parse_quantity(run) {
        Some(v) => v.to_string(),
        None => run.iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_quantities() {
        for (n, w) in [
            (0, "零"),
            (7, "七"),
            (10, "十"),
            (15, "十五"),
            (20, "二十"),
            (105, "一百零五"),
            (399, "三百九十九"),
            (1000, "一千"),
            (1001, "一千零一"),
            (2350, "二千三百五十"),
            (10010, "一万零一十"),
            (120_000, "十二万"),
            (100_000_000, "一亿"),
        ] {
            assert_eq!(integer_words(n), w, "{n}");
        }
    }

    #[test]
    fn spelling_numbers_in_sentences() {
        let cases = [
            ("只要399元", "只要三百九十九元"),
            ("订单号是20481。", "订单号是二零四八一。"),
            ("手机13812345678", "手机一三八一二三四五六七八"),
            ("金额35.5元", "金额三十五点五元"),
            ("11月25日送达", "十一月二十五日送达"),
            ("2026年1月1日", "二零二六年一月一日"),
            ("打50%的折扣", "打百分之五十的折扣"),
            ("早上9:30到晚上10:00", "早上九点三十到晚上十点整"),
            ("2个工作日", "两个工作日"),
            ("第2名", "第二名"),
            ("分机号0571", "分机号零五七一"),
            ("没有数字", "没有数字"),
        ];
        for (text, spoken) in cases {
            assert_eq!(spell_numbers(text), spoken, "{text}");
        }
    }

    #[test]
    fn numerals_become_digits_for_scoring() {
        let cases = [
            ("三百九十九元", "399元"),
            ("二零四八一", "20481"),
            ("三十五点五元", "35.5元"),
            ("十一月二十五日", "11月25日"),
            ("两个", "2个"),
            ("一万零一十", "10010"),
            ("十二万", "120000"),
            ("九点三十分", "9点30分"),
            ("八点半", "8点半"),
            ("399元", "399元"),
        ];
        for (text, digits) in cases {
            assert_eq!(to_digits(text), digits, "{text}");
        }
    }

    #[test]
    fn spelled_numbers_score_like_digits() {
        for text in [
            "只要399元",
            "订单号20481",
            "金额35.5元",
            "11月25日",
            "2350分",
            "10010",
        ] {
            assert_eq!(to_digits(&spell_numbers(text)), to_digits(text), "{text}");
        }
    }
}
