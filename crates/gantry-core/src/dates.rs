//! Shifting DICOM dates by whole days, so every interval between a patient's dates stays
//! the same (PS3.15 E.3.6, Retain Longitudinal Temporal Information with Modified Dates).
//!
//! DA `YYYYMMDD` (and the ACR-NEMA `YYYY.MM.DD`), ranges `A-B`, multiple values, and DT
//! `YYYY[MM[DD[HHMMSS[.F]]]][&ZZXX]` with partial precision and a time-zone offset are
//! handled; times of day (TM) do not change under a shift of whole days. A value that is
//! not a date cannot be shifted, and is reported so it can be emptied rather than kept.

use chrono::Datelike;

/// `(y, m, d)` moved by `days` on the proleptic Gregorian calendar (chrono's arithmetic),
/// when it is a real date; any year the calendar has.
fn add_days(y: i64, m: u32, d: u32, days: i32) -> Option<(i64, u32, u32)> {
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    let moved = date.checked_add_signed(chrono::TimeDelta::days(days.into()))?;
    Some((i64::from(moved.year()), moved.month(), moved.day()))
}

/// Whether `(y, m, d)` is a real calendar date.
fn is_date(y: i64, m: u32, d: u32) -> bool {
    i32::try_from(y).is_ok_and(|y| chrono::NaiveDate::from_ymd_opt(y, m, d).is_some())
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Shifts a date prefix of 4, 6 or 8 digits; a partial date is shifted from the middle of
/// the period it names and written back at the same precision.
fn shift_date_digits(date: &str, days: i32) -> Option<String> {
    let y = digits(date.get(..4)?)? as i64;
    match date.len() {
        4 => {
            let (ny, _, _) = add_days(y, 7, 1, days)?;
            (0..=9999).contains(&ny).then(|| format!("{ny:04}"))
        }
        6 => {
            let m = digits(&date[4..6])?;
            if !(1..=12).contains(&m) {
                return None;
            }
            let (ny, nm, _) = add_days(y, m, 15, days)?;
            (0..=9999).contains(&ny).then(|| format!("{ny:04}{nm:02}"))
        }
        8 => {
            let m = digits(&date[4..6])?;
            let d = digits(&date[6..8])?;
            if !is_date(y, m, d) {
                return None;
            }
            let (ny, nm, nd) = add_days(y, m, d, days)?;
            (0..=9999)
                .contains(&ny)
                .then(|| format!("{ny:04}{nm:02}{nd:02}"))
        }
        _ => None,
    }
}

/// Shifts one DA value (a date, an ACR-NEMA dotted date, or a range `A-B` with either end
/// open). `None` when it is not a date.
fn shift_da_value(value: &str, days: i32) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return Some(String::new());
    }
    if let Some((a, b)) = value.split_once('-') {
        let a = if a.is_empty() {
            String::new()
        } else {
            shift_da_value(a, days)?
        };
        let b = if b.is_empty() {
            String::new()
        } else {
            shift_da_value(b, days)?
        };
        return Some(format!("{a}-{b}"));
    }
    let compact: String = value.chars().filter(|c| *c != '.').collect();
    if compact.len() != 8 {
        return None;
    }
    shift_date_digits(&compact, days)
}

/// Shifts one DT value: its date part moves by whole days; time, fraction and time-zone
/// offset are kept. A range `A-B` has a `-` only between its ends (a time-zone `-` follows
/// at least 4 digits of date, so the split is made on the last `-` that starts a date).
fn shift_dt_value(value: &str, days: i32) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return Some(String::new());
    }
    if let Some((a, b)) = split_dt_range(value) {
        let a = if a.is_empty() {
            String::new()
        } else {
            shift_dt_value(a, days)?
        };
        let b = if b.is_empty() {
            String::new()
        } else {
            shift_dt_value(b, days)?
        };
        return Some(format!("{a}-{b}"));
    }
    let (body, zone) = match value.find(['+', '-']) {
        Some(i) if i >= 4 => (&value[..i], &value[i..]),
        Some(_) => return None,
        None => (value, ""),
    };
    if !zone.is_empty() && (zone.len() != 5 || digits(&zone[1..]).is_none()) {
        return None;
    }
    let date_len = body.bytes().take_while(u8::is_ascii_digit).count().min(8);
    let date_len = match date_len {
        4..=5 => 4,
        6..=7 => 6,
        8 => 8,
        _ => return None,
    };
    let (date, rest) = body.split_at(date_len);
    if date_len < 8 && !rest.is_empty() {
        return None;
    }
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some(format!("{}{rest}{zone}", shift_date_digits(date, days)?))
}

fn split_dt_range(value: &str) -> Option<(&str, &str)> {
    // The range separator is the first '-' that is not a time-zone sign. A zone sign
    // follows a date of at least 4 digits and precedes &ZZXX: hours up to 14, minutes
    // under 60, then the end of the value or the range separator.
    for (i, c) in value.char_indices() {
        if c != '-' {
            continue;
        }
        let after = &value[i + 1..];
        let zone = after
            .get(..4)
            .filter(|z| z.bytes().all(|b| b.is_ascii_digit()));
        let is_zone = i >= 4
            && zone.is_some_and(|z| z[..2] <= *"14" && z[2..] < *"60")
            && (after.len() == 4 || after.as_bytes()[4] == b'-');
        if !is_zone {
            return Some((&value[..i], after));
        }
    }
    None
}

/// A calendar date moved by `days`, when `(y, m, d)` is a real date and the result stays
/// within years 0 to 9999: how dates written in free text are shifted.
pub fn shift_ymd(y: i64, m: u32, d: u32, days: i32) -> Option<(i64, u32, u32)> {
    if !(0..=9999).contains(&y) || !is_date(y, m, d) {
        return None;
    }
    let (ny, nm, nd) = add_days(y, m, d, days)?;
    (0..=9999).contains(&ny).then_some((ny, nm, nd))
}

/// Shifts a (possibly multi-valued) DA element value. `None`: some value is not a date.
pub fn shift_da(value: &str, days: i32) -> Option<String> {
    value
        .split('\\')
        .map(|v| shift_da_value(v, days))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.join("\\"))
}

/// Shifts a (possibly multi-valued) DT element value. `None`: some value is not a DT.
pub fn shift_dt(value: &str, days: i32) -> Option<String> {
    value
        .split('\\')
        .map(|v| shift_dt_value(v, days))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.join("\\"))
}

/// Days between two full `YYYYMMDD` dates, for checking that intervals survive.
pub fn days_between(a: &str, b: &str) -> Option<i64> {
    let day = |s: &str| -> Option<chrono::NaiveDate> {
        let s = s.get(..8)?;
        chrono::NaiveDate::from_ymd_opt(
            i32::try_from(digits(&s[..4])?).ok()?,
            digits(&s[4..6])?,
            digits(&s[6..8])?,
        )
    };
    Some(day(b)?.signed_duration_since(day(a)?).num_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_shifts() {
        let cases: &[(&str, i32, Option<&str>)] = &[
            ("20230314", -1, Some("20230313")),
            ("20230301", -1, Some("20230228")),
            ("20240301", -1, Some("20240229")),
            ("20231231", 1, Some("20240101")),
            ("2023.03.14", -14, Some("20230228")),
            ("20230101-20230131", 10, Some("20230111-20230210")),
            ("-20230131", 10, Some("-20230210")),
            ("20230101-", -1, Some("20221231-")),
            ("20230314\\20230315", 1, Some("20230315\\20230316")),
            ("", 5, Some("")),
            ("2023031", 5, None),
            ("20231341", 5, None),
            ("20230230", 5, None),
            ("UNKNOWN", 5, None),
        ];
        for (value, days, want) in cases {
            assert_eq!(
                shift_da(value, *days).as_deref(),
                *want,
                "DA {value:?} {days}"
            );
        }
        let dt: &[(&str, i32, Option<&str>)] = &[
            (
                "20230314101530.123456+0100",
                -1,
                Some("20230313101530.123456+0100"),
            ),
            ("20230314101530-0500", 1, Some("20230315101530-0500")),
            ("20230314", 1, Some("20230315")),
            ("202303", 31, Some("202304")),
            ("2023", -200, Some("2022")),
            ("2023", -100, Some("2023")),
            ("20230101-20230201", 1, Some("20230102-20230202")),
            (
                "20230101000000-0500-20230201",
                1,
                Some("20230102000000-0500-20230202"),
            ),
            ("2023031410", 1, Some("2023031510")),
            ("20230314+01", 1, None),
            ("hello", 1, None),
        ];
        for (value, days, want) in dt {
            assert_eq!(
                shift_dt(value, *days).as_deref(),
                *want,
                "DT {value:?} {days}"
            );
        }
    }

    #[test]
    fn intervals_survive_any_shift() {
        for shift in [-400, -365, -31, -1, 1, 29, 366] {
            let a = shift_da("20200227", shift).unwrap();
            let b = shift_da("20200302", shift).unwrap();
            assert_eq!(days_between(&a, &b), Some(4), "shift {shift}");
        }
    }
}
