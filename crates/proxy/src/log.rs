//! The proxy's log lines on stderr: plain text, or one JSON object per line
//! (`--log-format json`) with a timestamp, a level, an event name and its fields, for log
//! collectors. Never bind parameters or passwords: only addresses, ids and error texts.

use std::time::{SystemTime, UNIX_EPOCH};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyLogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for ProxyLogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(ProxyLogFormat::Text),
            "json" => Ok(ProxyLogFormat::Json),
            _ => Err(format!("unknown log format {s:?} (expected text or json)")),
        }
    }
}

/// Writes one line: `event` names what happened (`connection_closed`, `reload`, ...),
/// `text` says it in words, `fields` add machine-readable detail.
pub fn line(
    format: ProxyLogFormat,
    level: &str,
    event: &str,
    text: &str,
    fields: &[(&str, String)],
) {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    eprintln!("{}", render(format, micros, level, event, text, fields));
}

fn render(
    format: ProxyLogFormat,
    time_us: u64,
    level: &str,
    event: &str,
    text: &str,
    fields: &[(&str, String)],
) -> String {
    match format {
        ProxyLogFormat::Text => format!("querycomb proxy: {text}"),
        ProxyLogFormat::Json => {
            let mut object = serde_json::Map::new();
            object.insert("time_us".into(), time_us.into());
            object.insert("level".into(), level.into());
            object.insert("event".into(), event.into());
            object.insert("message".into(), text.into());
            for (key, value) in fields {
                object.insert((*key).into(), value.clone().into());
            }
            serde_json::Value::Object(object).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_event_and_fields() {
        let fields = [("client", "10.0.0.7:51234".to_owned())];
        let json = render(
            ProxyLogFormat::Json,
            7,
            "warn",
            "connection_closed",
            "closed: x",
            &fields,
        );
        assert_eq!(
            json,
            r#"{"client":"10.0.0.7:51234","event":"connection_closed","level":"warn","message":"closed: x","time_us":7}"#
        );
        let text = render(
            ProxyLogFormat::Text,
            7,
            "warn",
            "connection_closed",
            "closed: x",
            &fields,
        );
        assert_eq!(text, "querycomb proxy: closed: x");
    }
}
