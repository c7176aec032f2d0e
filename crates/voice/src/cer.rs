//! Character error rate, for recognition tests and benchmarks.

/// Keeps what is scored: letters and digits (CJK included), lower-cased;
/// punctuation and spaces do not count.
pub fn normalize(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Edit distance between two character sequences.
pub fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// (errors, reference length) of a hypothesis against a reference.
pub fn char_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    (edit_distance(&r, &h), r.len())
}

/// Folds what is a matter of writing, not of hearing, before scoring:
/// full-width letters and digits become ASCII, and Chinese numerals become
/// Arabic digits ([`crate::numbers::to_digits`]: 三十五 = 35, 二零四八一 =
/// 20481, 两 = 2). Nothing else changes: 您/你, homophones and Traditional
/// characters still count as errors.
pub fn fold_for_scoring(text: &str) -> String {
    let half: String = text
        .chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            c => c,
        })
        .collect();
    crate::numbers::to_digits(&half)
}

/// [`char_errors`] after [`fold_for_scoring`] on both sides; the reference
/// length is that of the folded reference.
pub fn folded_char_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    char_errors(&fold_for_scoring(reference), &fold_for_scoring(hypothesis))
}

/// Character error rate (errors / reference characters; 0 for an empty reference).
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let (e, n) = char_errors(reference, hypothesis);
    if n == 0 { 0.0 } else { e as f64 / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_substitutions_insertions_deletions() {
        assert_eq!(cer("今天天气很好。", "今天天气很好"), 0.0);
        assert_eq!(char_errors("今天天气很好", "今天天汽很好"), (1, 6));
        assert_eq!(char_errors("今天天气很好", "今天天气很好啊"), (1, 6));
        assert_eq!(char_errors("今天天气很好", "天天气很好"), (1, 6));
        assert_eq!(char_errors("Hello, World", "hello world"), (0, 10));
        assert_eq!(cer("", "x"), 0.0);
        assert_eq!(cer("ab", ""), 1.0);
    }

    #[test]
    fn folding_equates_only_ways_of_writing_numbers() {
        assert_eq!(folded_char_errors("金额三十五点五元", "金额35.5元"), (0, 6));
        assert_eq!(
            folded_char_errors("订单号20481", "订单号二零四八一"),
            (0, 8)
        );
        assert_eq!(folded_char_errors("ＸＬ码", "xl码"), (0, 3));
        // A wrong number is still wrong, and so is 你 for 您.
        assert_eq!(folded_char_errors("三十五元", "三十六元"), (1, 3));
        assert_eq!(folded_char_errors("您好", "你好"), (1, 2));
    }
}
