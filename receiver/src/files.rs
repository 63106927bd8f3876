//! Names for the files the receiver writes (snapshots, recordings): a
//! sender's stream name made safe for any file system, a UTC timestamp that
//! sorts in time order, and a new file that never overwrites an old one.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The longest stem made of a name, in characters: with a time stamp and
/// an extension, far below any file system's 255-byte limit.
const MAX_STEM_CHARS: usize = 100;

/// `name` with anything but ASCII letters, digits, `-` and `_` replaced by
/// `_`, so a sender cannot choose where a file goes, and shortened to
/// [`MAX_STEM_CHARS`], so a long name still gets its file.
pub fn safe_stem(name: &str) -> String {
    name.chars()
        .take(MAX_STEM_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Creates `DIR/STEM.EXT`, or `STEM-2.EXT` and so on if it exists.
pub fn create_new_file(
    directory: &Path,
    stem: &str,
    extension: &str,
) -> anyhow::Result<(PathBuf, File)> {
    for attempt in 1u64.. {
        let path = match attempt {
            1 => directory.join(format!("{stem}.{extension}")),
            n => directory.join(format!("{stem}-{n}.{extension}")),
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("cannot create {}", path.display()));
            }
        }
    }
    unreachable!("an unbounded range ends only by returning")
}

/// `YYYYMMDD-HHMMSS` (UTC) for `unix_seconds`.
pub fn utc_stamp(unix_seconds: u64) -> String {
    let (days, seconds) = (unix_seconds / 86_400, unix_seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_whatever_the_sender_calls_itself() {
        assert_eq!(safe_stem("porch"), "porch");
        assert_eq!(safe_stem("../../etc/passwd"), "______etc_passwd");
        assert_eq!(safe_stem("127.0.0.1:5000"), "127_0_0_1_5000");
        assert_eq!(safe_stem(&"n".repeat(1000)).len(), MAX_STEM_CHARS);
    }

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000"); // a leap day
        assert_eq!(utc_stamp(1_795_631_759), "20261125-183559");
    }
}
