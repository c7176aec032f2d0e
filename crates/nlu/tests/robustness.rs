//! No function may panic on arbitrary text: empty strings, emoji, mixed
//! scripts, control characters, lone combining marks, very long input.
//! A seeded generator stands in for proptest (no extra dependency): the
//! same cases run every time.

use nlu::entities::{DateTimeRef, datetime, money, numbers, phone_numbers, yes_no};
use nlu::{EmotionModel, FaqEntry, FaqIndex, IntentExample, IntentModel, IntentRule, Segmenter};

/// Characters chosen to hit every code path: Chinese numerals and units,
/// date words, digits, separators, punctuation of both widths, emoji,
/// combining marks, RTL text, NUL and other controls.
const ALPHABET: &[&str] = &[
    "一",
    "二",
    "两",
    "三",
    "十",
    "百",
    "千",
    "万",
    "亿",
    "点",
    "半",
    "零",
    "幺",
    "号",
    "月",
    "日",
    "周",
    "星期",
    "下",
    "上",
    "明天",
    "后天",
    "点钟",
    "分",
    "小时",
    "后",
    "元",
    "块",
    "毛",
    "不",
    "是",
    "好",
    "嗯",
    "没",
    "骗子",
    "投诉",
    "电费",
    "交",
    "0",
    "1",
    "5",
    "9",
    ".",
    ",",
    ":",
    "-",
    "+",
    "¥",
    " ",
    "，",
    "。",
    "！",
    "？",
    "\n",
    "\t",
    "\0",
    "😀",
    "👍🏽",
    "e\u{301}",
    "\u{301}",
    "مرحبا",
    "Ω",
    "ﬁ",
    "Ａ",
    "１",
    "Hello",
    "no",
    "yes",
    "'",
    "\"",
    "\\",
    "{",
    "}",
    "…",
    "\u{200b}",
    "\u{feff}",
    "𠀀",
    "月底",
    "过",
    "几天",
    "一会儿",
    "8",
    "6",
    "13",
    "0571",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn text(&mut self, max_len: usize) -> String {
        let len = (self.next() % (max_len as u64 + 1)) as usize;
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize])
            .collect()
    }
}

fn cases() -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v: Vec<String> = (0..400).map(|_| rng.text(24)).collect();
    v.push(String::new());
    v.push("😀".repeat(500));
    v.push("一三八".repeat(3000));
    v.push("明天下午三点".repeat(2000));
    v.push("9".repeat(5000));
    v.push("点".repeat(1000));
    v.push("十".repeat(1000) + "万亿");
    v.push(rng.text(20_000));
    v
}

#[test]
fn nothing_panics_on_arbitrary_text() {
    let seg = Segmenter::with_user_words(vec!["😀".to_string(), String::new(), "电费".to_string()]);
    let examples = vec![
        IntentExample {
            text: "我交过了".into(),
            intent: Some("paid".into()),
        },
        IntentExample {
            text: "地址在哪".into(),
            intent: Some("address".into()),
        },
        IntentExample {
            text: "😀".into(),
            intent: None,
        },
    ];
    let rules = vec![IntentRule {
        intent: "complaint".into(),
        keywords: vec!["投诉".into(), "".into()],
        regex: vec!["骗.*子".into()],
        priority: 1,
    }];
    let intent = IntentModel::train(&examples, &rules).expect("train");
    let faq = FaqIndex::build(vec![
        FaqEntry {
            id: "a".into(),
            question: "电费怎么交".into(),
            similar: vec!["".into(), "😀".into()],
            answer: "x".into(),
            category: None,
            links: Vec::new(),
            images: Vec::new(),
        },
        FaqEntry {
            id: "b".into(),
            question: "".into(),
            similar: vec![],
            answer: "".into(),
            category: Some("c".into()),
            links: Vec::new(),
            images: Vec::new(),
        },
    ])
    .expect("build");
    let emotion = EmotionModel::default_model();
    let nows = [
        DateTimeRef::new(2026, 11, 25, 10, 0),
        DateTimeRef::new(2024, 2, 29, 23, 59),
        DateTimeRef::new(2026, 12, 31, 23, 59),
        // Out-of-range reference fields must be tolerated too.
        DateTimeRef {
            year: 2026,
            month: 13,
            day: 40,
            hour: 99,
            minute: 99,
            weekday: 0,
        },
    ];
    for text in cases() {
        let _ = seg.words(&text);
        let r = intent.classify(&text);
        assert!((0.0..=1.0).contains(&r.score), "{text:?}: {r:?}");
        let f = faq.search(&text, 5);
        assert!(f.top.len() <= 5);
        assert!(f.top.iter().all(|h| (0.0..=1.0).contains(&h.score)));
        let e = emotion.score(&text);
        assert!((0.0..=1.0).contains(&e.score) && (0.0..=1.0).contains(&e.anger));
        let _ = yes_no(&text);
        let _ = numbers(&text);
        let _ = money(&text);
        let _ = phone_numbers(&text);
        for now in &nows {
            if let Some(d) = datetime(&text, now) {
                assert!(
                    (1..=12).contains(&d.month) && (1..=31).contains(&d.day),
                    "{text:?}: {d:?}"
                );
                assert!(d.hour < 24 && d.minute < 60 && (1..=7).contains(&d.weekday));
            }
        }
    }
}

#[test]
fn results_are_deterministic() {
    let examples: Vec<IntentExample> = (0..60)
        .map(|i| IntentExample {
            text: format!("样例{}号{}", i, if i % 2 == 0 { "交费" } else { "地址" }),
            intent: Some(if i % 2 == 0 { "fee" } else { "addr" }.to_string()),
        })
        .collect();
    let a = IntentModel::train(&examples, &[]).expect("train");
    let b = IntentModel::train(&examples, &[]).expect("train");
    for t in ["交费", "地址", "样例3", ""] {
        assert_eq!(a.classify(t), b.classify(t));
    }
}
