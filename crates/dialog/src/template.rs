//! `{{variable}}` templates, parsed once at load so saying a line is a cheap join.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Var(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segs: Vec<Seg>,
}

impl Template {
    /// Parses `text`; an unclosed `{{` is kept literally (validation reports it).
    pub fn parse(text: &str) -> Template {
        let mut segs = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let Some(close_rel) = rest.get(open + 2..).and_then(|r| r.find("}}")) else {
                break;
            };
            if open > 0 {
                segs.push(Seg::Lit(rest.get(..open).unwrap_or("").to_string()));
            }
            let name = rest
                .get(open + 2..open + 2 + close_rel)
                .unwrap_or("")
                .trim()
                .to_string();
            segs.push(Seg::Var(name));
            rest = rest.get(open + 2 + close_rel + 2..).unwrap_or("");
        }
        if !rest.is_empty() {
            segs.push(Seg::Lit(rest.to_string()));
        }
        Template { segs }
    }

    /// The template as written, variables as `{{name}}`.
    pub fn source(&self) -> String {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Var(v) => format!("{{{{{v}}}}}"),
            })
            .collect()
    }

    /// Variable names used.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Var(v) => Some(v.as_str()),
            Seg::Lit(_) => None,
        })
    }

    /// Fills variables from the lookups in order; a missing one renders empty.
    pub fn render(&self, lookups: &[&BTreeMap<String, String>]) -> String {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::Var(v) => {
                    if let Some(val) = lookups.iter().find_map(|m| m.get(v)) {
                        out.push_str(val);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_lists_vars() {
        let t = Template::parse("您好{{name}}，{{ community }}的房子");
        let vars: Vec<&str> = t.vars().collect();
        assert_eq!(vars, vec!["name", "community"]);
        let mut m = BTreeMap::new();
        m.insert("name".to_string(), "王先生".to_string());
        m.insert("community".to_string(), "万科城".to_string());
        assert_eq!(t.render(&[&m]), "您好王先生，万科城的房子");
        assert_eq!(Template::parse("a{{b").render(&[]), "a{{b");
        assert_eq!(t.source(), "您好{{name}}，{{community}}的房子");
    }
}
