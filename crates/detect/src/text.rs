//! Text for messages: SQL shortened to what a one-line message can hold.

/// Longest SQL excerpt in a message.
pub const MESSAGE_SQL_CHARS: usize = 120;

/// `SELECT a, b, c FROM t WHERE …` → `SELECT … FROM t WHERE …`, cut to a readable length.
pub fn excerpt(normalized: &str) -> String {
    let mut text = normalized.to_owned();
    let upper = normalized.to_ascii_uppercase();
    if upper.starts_with("SELECT ") {
        if let Some(from) = upper.find(" FROM ") {
            let list = normalized.get(7..from).unwrap_or("");
            if list.chars().count() > 30 {
                text = format!("SELECT …{}", normalized.get(from..).unwrap_or(""));
            }
        }
    }
    if text.chars().count() > MESSAGE_SQL_CHARS {
        let cut: String = text.chars().take(MESSAGE_SQL_CHARS).collect();
        text = format!("{cut}…");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_hides_long_select_lists() {
        assert_eq!(
            excerpt(
                "SELECT customers.id, customers.name, customers.email FROM customers WHERE id = $1"
            ),
            "SELECT … FROM customers WHERE id = $1"
        );
        assert_eq!(excerpt("SELECT COUNT(*) FROM t"), "SELECT COUNT(*) FROM t");
        assert_eq!(excerpt("SELECT FROM t"), "SELECT FROM t");
        let long = format!("SELECT 1 FROM t WHERE {}", "a = 1 AND ".repeat(40));
        assert!(excerpt(&long).chars().count() <= MESSAGE_SQL_CHARS + 1);
    }

    #[test]
    fn excerpt_is_safe_on_multibyte_text() {
        let text = format!("SELECT {} FROM \"tablé\"", "é, ".repeat(20));
        assert!(excerpt(&text).starts_with("SELECT …"));
    }
}
