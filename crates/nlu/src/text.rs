//! Text normalisation shared by every component.

/// Normalises text the way every model in this crate sees it: full-width
/// ASCII (as typed on Chinese keyboards and printed by some ASR engines)
/// becomes half-width, the ideographic space becomes a space, and Latin
/// letters are lowercased. Chinese characters are kept as they are.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// True for CJK ideographs (the characters jieba segments).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// True for characters that belong to a Latin/digit word.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// Splits normalised text into runs: CJK runs and word runs (letters, digits,
/// inner apostrophes and decimal points); everything else separates runs.
pub fn runs(text: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in chars.iter().enumerate() {
        let kind = if is_cjk(c) {
            Some(true)
        } else if is_word_char(c) {
            Some(false)
        } else if (c == '\'' || c == '.')
            && matches!(start, Some((_, false)))
            && chars.get(i + 1).is_some_and(|&(_, n)| is_word_char(n))
        {
            // "don't", "1.5": keep inside the current word run.
            Some(false)
        } else {
            None
        };
        match (start, kind) {
            (Some((s, k)), Some(nk)) if k != nk => {
                out.push((k, &text[s..pos]));
                start = Some((pos, nk));
            }
            (Some((s, k)), None) => {
                out.push((k, &text[s..pos]));
                start = None;
            }
            (None, Some(nk)) => start = Some((pos, nk)),
            _ => {}
        }
    }
    if let Some((s, k)) = start {
        out.push((k, &text[s..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_full_width_and_case() {
        assert_eq!(normalize("ＡＢＣ１２３　Hello"), "abc123 hello");
    }

    #[test]
    fn runs_split_scripts() {
        let r = runs("我要wifi密码，don't 1.5万");
        assert_eq!(
            r,
            vec![
                (true, "我要"),
                (false, "wifi"),
                (true, "密码"),
                (false, "don't"),
                (false, "1.5"),
                (true, "万")
            ]
        );
    }
}
