//! Kernun-style statement tree: `name args... ;` or `name args... { statements }`.
//! Structural errors (a missing `;`, an unbalanced brace) are collected with their spans; the
//! applet's reader then checks keywords, arity and ranges against its own table.

use super::{tokenize, Errors, Kind, Span, Token};

/// One statement: its keyword, its arguments and, for a section, its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: Token,
    pub args: Vec<Token>,
    pub body: Option<Vec<Node>>,
}

impl Node {
    pub fn span(&self) -> &Span {
        &self.name.span
    }

    /// The keyword.
    pub fn key(&self) -> &str {
        &self.name.text
    }

    /// Children of a section (empty for a plain item).
    pub fn children(&self) -> &[Node] {
        self.body.as_deref().unwrap_or(&[])
    }
}

/// Tokenizes and parses `text`; returns what could be parsed and every problem.
pub fn parse(file: &str, text: &str) -> (Vec<Node>, Errors) {
    let (tokens, mut errors) = tokenize(file, text);
    let mut pos = 0;
    let nodes = parse_block(&tokens, &mut pos, &mut errors, None);
    (nodes, errors)
}

fn parse_block(
    tokens: &[Token],
    pos: &mut usize,
    errors: &mut Errors,
    opened_at: Option<&Span>,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    loop {
        let Some(tok) = tokens.get(*pos) else {
            if let Some(open) = opened_at {
                errors.push(open, "section opened here is never closed with '}'");
            }
            return nodes;
        };
        match tok.kind {
            Kind::CloseBrace => {
                *pos += 1;
                if opened_at.is_none() {
                    errors.push(&tok.span, "'}' without a matching '{'");
                    continue;
                }
                return nodes;
            }
            Kind::Semicolon => {
                // A stray ';' is harmless; Kernun accepts empty statements.
                *pos += 1;
            }
            Kind::OpenBrace => {
                errors.push(&tok.span, "'{' must follow a section name");
                *pos += 1;
                let _ = parse_block(tokens, pos, errors, Some(&tok.span));
            }
            Kind::Str => {
                errors.push(
                    &tok.span,
                    format!("expected a keyword, found string \"{}\"", tok.text),
                );
                *pos += 1;
            }
            Kind::Word => nodes.push(parse_statement(tokens, pos, errors)),
        }
    }
}

fn parse_statement(tokens: &[Token], pos: &mut usize, errors: &mut Errors) -> Node {
    let name = tokens[*pos].clone();
    *pos += 1;
    let mut args = Vec::new();
    loop {
        let Some(tok) = tokens.get(*pos) else {
            errors.push(
                &name.span,
                format!("'{}' is not ended with ';' before end of file", name.text),
            );
            return Node {
                name,
                args,
                body: None,
            };
        };
        match tok.kind {
            Kind::Word | Kind::Str => {
                args.push(tok.clone());
                *pos += 1;
            }
            Kind::Semicolon => {
                *pos += 1;
                return Node {
                    name,
                    args,
                    body: None,
                };
            }
            Kind::OpenBrace => {
                *pos += 1;
                let body = parse_block(tokens, pos, errors, Some(&tok.span));
                // An optional ';' after '}' is accepted.
                if tokens.get(*pos).map(|t| t.kind) == Some(Kind::Semicolon) {
                    *pos += 1;
                }
                return Node {
                    name,
                    args,
                    body: Some(body),
                };
            }
            Kind::CloseBrace => {
                errors.push(
                    &tok.span,
                    format!("expected ';' after '{}' before '}}'", name.text),
                );
                return Node {
                    name,
                    args,
                    body: None,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_items_nest() {
        let text = "version PIKEMON-1;\npikemon {\n  node-id 1;\n  heart-beat { interface hb0; interface hb1; }\n}\n";
        let (nodes, errs) = parse("p.cfg", text);
        assert!(errs.is_empty(), "{errs}");
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].key(), "version");
        assert_eq!(nodes[0].args[0].text, "PIKEMON-1");
        let pm = &nodes[1];
        assert_eq!(pm.children().len(), 2);
        let hb = &pm.children()[1];
        assert_eq!(hb.key(), "heart-beat");
        assert_eq!(hb.children()[1].args[0].text, "hb1");
        assert_eq!(hb.children()[1].span().to_string(), "p.cfg:4:31");
    }

    #[test]
    fn structural_errors_are_all_collected() {
        let (_, errs) = parse("e.cfg", "a 1\n}\nb { c 2; \n");
        let text = errs.to_string();
        assert!(
            text.contains("e.cfg:2:1: error: expected ';' after 'a' before '}'"),
            "{text}"
        );
        assert!(
            text.contains("e.cfg:2:1: error: '}' without a matching '{'"),
            "{text}"
        );
        assert!(
            text.contains("e.cfg:3:3: error: section opened here is never closed"),
            "{text}"
        );
    }

    #[test]
    fn missing_semicolon_at_eof() {
        let (nodes, errs) = parse("f", "x y");
        assert_eq!(nodes.len(), 1);
        assert_eq!(
            errs.to_string(),
            "f:1:1: error: 'x' is not ended with ';' before end of file"
        );
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "{",
            "}",
            "{{}}",
            ";;;",
            "\"x\" { }",
            "a { b { c { ",
            "a \"",
            "}{",
        ] {
            let _ = parse("g", s);
        }
    }
}
