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
}
