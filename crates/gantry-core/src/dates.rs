//! Shifting DICOM dates by whole days, so every interval between a patient's dates stays
//! the same (PS3.15 E.3.6, Retain Longitudinal Temporal Information with Modified Dates).
//!
//! DA `YYYYMMDD` (and the ACR-NEMA `YYYY.MM.DD`), ranges `A-B`, multiple values, and DT
//! `YYYY[MM[DD[HHMMSS[.F]]]][&ZZXX]` with partial precision and a time-zone offset are
//! handled; times of day (TM) do not change under a shift of whole days. A value that is
//! not a date cannot be shifted, and is reported so it can be emptied rather than kept.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
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
            let (ny, _, _) = civil_from_days(days_from_civil(y, 7, 1) + days as i64);
            (0..=9999).contains(&ny).then(|| format!("{ny:04}"))
        }
        6 => {
            let m = digits(&date[4..6])?;
            if !(1..=12).contains(&m) {
                return None;
            }
            let (ny, nm, _) = civil_from_days(days_from_civil(y, m, 15) + days as i64);
            (0..=9999).contains(&ny).then(|| format!("{ny:04}{nm:02}"))
        }
        8 => {
            let m = digits(&date[4..6])?;
            let d = digits(&date[6..8])?;
            if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
                return None;
            }
            let (ny, nm, nd) = civil_from_days(days_from_civil(y, m, d) + days as i64);
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
    if !(0..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let (ny, nm, nd) = civil_from_days(days_from_civil(y, m, d) + days as i64);
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
    let day = |s: &str| -> Option<i64> {
        let s = s.get(..8)?;
        Some(days_from_civil(
            digits(&s[..4])? as i64,
            digits(&s[4..6])?,
            digits(&s[6..8])?,
        ))
    };
    Some(day(b)? - day(a)?)
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
