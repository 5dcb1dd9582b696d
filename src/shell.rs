//! Words of the commands xpart prints for a person to paste (`xpart unlock …`, `aws
//! secretsmanager …`): quoted so a shell reads each back as one word, whatever it holds.

/// A word as a POSIX shell reads it back: as is when it holds only safe characters, else in
/// single quotes.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
