//! Traditional → Simplified characters for recognised Mandarin.
//!
//! Whisper writes Mandarin in Traditional characters now and then even with
//! a Simplified prompt (對對對就是這個, 你們有沒有). The table is OpenCC's
//! character map (Apache-2.0), reduced to pairs that cannot be wrong in
//! Simplified text: a character that is also used in Simplified writing
//! (著, 乾, 於 …) is never changed. See `data/ts_chars.txt`.

use std::collections::HashMap;
use std::sync::OnceLock;

static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();

fn table() -> &'static HashMap<char, char> {
    TABLE.get_or_init(|| {
        include_str!("../data/ts_chars.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut c = l.chars();
                Some((c.next()?, c.next()?))
            })
            .collect()
    })
}

/// `text` with Traditional characters replaced by their Simplified forms.
pub fn to_simplified(text: &str) -> String {
    let t = table();
    text.chars()
        .map(|c| t.get(&c).copied().unwrap_or(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traditional_becomes_simplified_and_nothing_else_changes() {
        assert_eq!(to_simplified("對對對就是這個"), "对对对就是这个");
        assert_eq!(
            to_simplified("你們有沒有分期付款？"),
            "你们有没有分期付款？"
        );
        assert_eq!(to_simplified("請問您貴姓"), "请问您贵姓");
        // Already Simplified, Latin, digits, and characters Simplified also uses.
        assert_eq!(to_simplified("著名的乾隆，OK 123"), "著名的乾隆，OK 123");
        assert_eq!(to_simplified("您好"), "您好");
        assert!(table().len() > 2000);
    }
}
