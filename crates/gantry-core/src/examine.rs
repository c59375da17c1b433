//! Checkpoint 2, examine: what is in the index.

use std::fmt;

use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use gantry_store::{Column, DeviceCount, FileOutcome, InstanceFilter, InstanceRecord, Store};
use serde::Serialize;

use crate::error::Result;
use crate::session::Session;

/// How many instances have one value of an attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueCount {
    /// The value (`None`: the attribute is absent).
    pub value: Option<String>,
    /// A readable name for the value, where one exists (transfer syntaxes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Instances with this value.
    pub instances: u64,
}

/// Files by what ingest concluded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    /// Indexed as instances.
    pub indexed: u64,
    /// Byte-identical copies of indexed instances.
    pub duplicate: u64,
    /// Same SOP Instance UID as an indexed instance, different content.
    pub conflict: u64,
    /// Not indexable.
    pub skipped: u64,
    /// Left to other shards (a sharded session).
    pub other_shard: u64,
}

/// The inventory of an ingested dump: what people need to know before configuring.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    /// Distinct Patient IDs.
    pub patients: u64,
    /// Distinct Study Instance UIDs.
    pub studies: u64,
    /// Distinct Series Instance UIDs.
    pub series: u64,
    /// Indexed instances.
    pub instances: u64,
    /// Files by ingest outcome.
    pub files: FileCounts,
    /// Instances per modality.
    pub modalities: Vec<ValueCount>,
    /// Instances per device (manufacturer, model, serial).
    pub devices: Vec<DeviceCount>,
    /// Instances per transfer syntax.
    pub transfer_syntaxes: Vec<ValueCount>,
    /// Instances per photometric interpretation.
    pub photometric_interpretations: Vec<ValueCount>,
    /// Instances per bits allocated.
    pub bits_allocated: Vec<ValueCount>,
    /// Instances per number of frames.
    pub frames: Vec<ValueCount>,
    /// Instances per Burned In Annotation value.
    pub burned_in_annotation: Vec<ValueCount>,
    /// Earliest and latest Study Date.
    pub study_dates: Option<(String, String)>,
    /// Where patient linkage is ambiguous: one Patient ID with several names, issuers or
    /// birth dates, one name with several Patient IDs (values masked).
    pub linkage_conflicts: Vec<LinkageConflict>,
}

/// An ambiguity of patient linkage, with masked values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkageConflict {
    /// What conflicts: several names, issuers or birth dates for one ID, or several IDs
    /// for one name.
    pub kind: String,
    /// The ID or name it is about, masked.
    pub subject: String,
    /// The values seen, masked.
    pub variants: Vec<String>,
    /// Instances involved.
    pub instances: u64,
}

/// A value with all but its first character hidden (`K*******`), so a report points at a
/// conflict without disclosing it.
fn masked(value: &str) -> String {
    let mut chars = value.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => "(empty)".into(),
    }
}

fn linkage_conflicts(rows: Vec<gantry_store::PatientIdentityCount>) -> Vec<LinkageConflict> {
    use std::collections::{BTreeMap, BTreeSet};
    let normal = |v: &Option<String>| crate::identity::normalize(v.as_deref().unwrap_or("").trim());
    /// What one Patient ID was seen with.
    #[derive(Default)]
    struct Seen {
        names: BTreeSet<String>,
        issuers: BTreeSet<String>,
        births: BTreeSet<String>,
        instances: u64,
    }
    let mut by_id: BTreeMap<String, Seen> = BTreeMap::new();
    let mut by_name: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
    for row in &rows {
        let (id, issuer, name, n) = (&row.patient_id, &row.issuer, &row.name, &row.instances);
        let id = id.as_deref().unwrap_or("").trim().to_string();
        let name = normal(name);
        if !id.is_empty() {
            let entry = by_id.entry(id.clone()).or_default();
            entry.names.insert(name.clone());
            entry
                .issuers
                .insert(issuer.as_deref().unwrap_or("").trim().to_string());
            if let Some(birth) = row
                .birth_date
                .as_deref()
                .map(str::trim)
                .filter(|b| !b.is_empty())
            {
                entry.births.insert(birth.to_string());
            }
            entry.instances += n;
        }
        if !name.trim().is_empty() {
            let entry = by_name.entry(name).or_default();
            entry.0.insert(id);
            entry.1 += n;
        }
    }
    let mut out = Vec::new();
    let conflict =
        |kind: &str, subject: &str, variants: &BTreeSet<String>, instances| LinkageConflict {
            kind: kind.into(),
            subject: masked(subject),
            variants: variants.iter().map(|v| masked(v)).collect(),
            instances,
        };
    for (id, seen) in &by_id {
        let (names, issuers, births, n) =
            (&seen.names, &seen.issuers, &seen.births, &seen.instances);
        if names.len() > 1 {
            out.push(conflict("one ID, several names", id, names, *n));
        }
        if issuers.len() > 1 {
            out.push(conflict("one ID, several issuers", id, issuers, *n));
        }
        if births.len() > 1 {
            out.push(conflict("one ID, several birth dates", id, births, *n));
        }
    }
    for (name, (ids, n)) in &by_name {
        if ids.len() > 1 {
            out.push(conflict("one name, several IDs", name, ids, *n));
        }
    }
    out
}

impl Session {
    /// Takes the inventory of everything ingested so far.
    pub fn examine(&self) -> Result<Inventory> {
        inventory(&self.store)
    }

    /// Starts a query over indexed instances.
    pub fn query(&self) -> InstanceQuery<'_> {
        InstanceQuery {
            store: &self.store,
            filter: InstanceFilter::default(),
        }
    }
}

fn inventory(store: &Store) -> Result<Inventory> {
    let counts = |column| -> Result<Vec<ValueCount>> {
        Ok(store
            .group_counts(column)?
            .into_iter()
            .map(|(value, instances)| ValueCount {
                name: None,
                value,
                instances,
            })
            .collect())
    };
    let mut files = FileCounts::default();
    for (outcome, n) in store.file_outcome_counts()? {
        match outcome {
            FileOutcome::Indexed => files.indexed = n,
            FileOutcome::Duplicate => files.duplicate = n,
            FileOutcome::Conflict => files.conflict = n,
            FileOutcome::Skipped => files.skipped = n,
            FileOutcome::OtherShard => files.other_shard = n,
        }
    }
    let mut transfer_syntaxes = counts(Column::TransferSyntax)?;
    for ts in &mut transfer_syntaxes {
        ts.name = ts
            .value
            .as_deref()
            .and_then(|uid| TransferSyntaxRegistry.get(uid))
            .map(|t| t.name().to_string());
    }
    Ok(Inventory {
        patients: store.distinct_count(Column::PatientId)?,
        studies: store.distinct_count(Column::StudyInstanceUid)?,
        series: store.distinct_count(Column::SeriesInstanceUid)?,
        instances: store.instance_count()?,
        files,
        modalities: counts(Column::Modality)?,
        devices: store.device_counts()?,
        transfer_syntaxes,
        photometric_interpretations: counts(Column::Photometric)?,
        bits_allocated: counts(Column::BitsAllocated)?,
        frames: counts(Column::Frames)?,
        burned_in_annotation: counts(Column::BurnedInAnnotation)?,
        study_dates: store.study_date_range()?,
        linkage_conflicts: linkage_conflicts(store.patient_identity_counts()?),
    })
}

/// A query over indexed instances; every condition set must hold.
#[must_use]
pub struct InstanceQuery<'a> {
    store: &'a Store,
    filter: InstanceFilter,
}

impl InstanceQuery<'_> {
    /// Only this modality.
    pub fn modality(mut self, value: impl Into<String>) -> Self {
        self.filter.modality = Some(value.into());
        self
    }
    /// Only this manufacturer.
    pub fn manufacturer(mut self, value: impl Into<String>) -> Self {
        self.filter.manufacturer = Some(value.into());
        self
    }
    /// Only this model.
    pub fn model_name(mut self, value: impl Into<String>) -> Self {
        self.filter.model_name = Some(value.into());
        self
    }
    /// Only this device serial number.
    pub fn serial_number(mut self, value: impl Into<String>) -> Self {
        self.filter.serial_number = Some(value.into());
        self
    }
    /// Only this patient.
    pub fn patient_id(mut self, value: impl Into<String>) -> Self {
        self.filter.patient_id = Some(value.into());
        self
    }
    /// Only this study.
    pub fn study(mut self, uid: impl Into<String>) -> Self {
        self.filter.study_instance_uid = Some(uid.into());
        self
    }
    /// Only this series.
    pub fn series(mut self, uid: impl Into<String>) -> Self {
        self.filter.series_instance_uid = Some(uid.into());
        self
    }
    /// Only this transfer syntax.
    pub fn transfer_syntax(mut self, uid: impl Into<String>) -> Self {
        self.filter.transfer_syntax = Some(uid.into());
        self
    }
    /// Only instances whose Burned In Annotation is this value (e.g. `YES`).
    pub fn burned_in_annotation(mut self, value: impl Into<String>) -> Self {
        self.filter.burned_in_annotation = Some(value.into());
        self
    }
    /// At most `n` instances.
    pub fn limit(mut self, n: u64) -> Self {
        self.filter.limit = Some(n);
        self
    }
    /// Runs the query.
    pub fn list(self) -> Result<Vec<InstanceRecord>> {
        Ok(self.store.list_instances(&self.filter)?)
    }
}

fn label(value: &Option<String>) -> &str {
    match value.as_deref() {
        None => "(absent)",
        Some("") => "(empty)",
        Some(v) => v,
    }
}

/// How wide the first column of the inventory's tables is.
const FIRST: usize = 40;

/// A table row: the label in the first column, or, when it is longer than the column, on
/// its own line with the rest below (long device names are what rules must match, so
/// they are never cut). Control characters show as `?`, so a value cannot break the
/// table.
fn row(f: &mut fmt::Formatter<'_>, label: &str, rest: fmt::Arguments<'_>) -> fmt::Result {
    let label: String = label
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if label.chars().count() > FIRST {
        writeln!(f, "  {label}")?;
        writeln!(f, "  {:<FIRST$} {rest}", "")
    } else {
        writeln!(f, "  {label:<FIRST$} {rest}")
    }
}

fn section(f: &mut fmt::Formatter<'_>, title: &str, rows: &[ValueCount]) -> fmt::Result {
    writeln!(f, "{title}")?;
    for r in rows {
        match &r.name {
            Some(name) => row(
                f,
                label(&r.value),
                format_args!("{:>8}  {name}", r.instances),
            )?,
            None => row(f, label(&r.value), format_args!("{:>8}", r.instances))?,
        }
    }
    Ok(())
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} patients, {} studies, {} series, {} instances",
            self.patients, self.studies, self.series, self.instances
        )?;
        writeln!(
            f,
            "files: {} indexed, {} duplicate, {} conflict, {} skipped",
            self.files.indexed, self.files.duplicate, self.files.conflict, self.files.skipped
        )?;
        if self.files.other_shard > 0 {
            writeln!(f, "  {} files left to other shards", self.files.other_shard)?;
        }
        if let Some((first, last)) = &self.study_dates {
            writeln!(f, "study dates: {first} to {last}")?;
        }
        section(f, "modality", &self.modalities)?;
        writeln!(f, "device (manufacturer / model / serial)")?;
        for d in &self.devices {
            let name = format!(
                "{} / {} / {}",
                label(&d.manufacturer),
                label(&d.model_name),
                label(&d.serial_number)
            );
            row(
                f,
                &name,
                format_args!(
                    "{:>8}  {} series, {}",
                    d.instances,
                    d.series,
                    d.modalities.join(",")
                ),
            )?;
        }
        section(f, "transfer syntax", &self.transfer_syntaxes)?;
        section(
            f,
            "photometric interpretation",
            &self.photometric_interpretations,
        )?;
        section(f, "bits allocated", &self.bits_allocated)?;
        section(f, "frames", &self.frames)?;
        section(f, "burned in annotation", &self.burned_in_annotation)?;
        if !self.linkage_conflicts.is_empty() {
            writeln!(
                f,
                "patient linkage conflicts (see patient_linkage in the config)"
            )?;
            for c in &self.linkage_conflicts {
                writeln!(
                    f,
                    "  {:<24} {:<16} {:>8}  {}",
                    c.kind,
                    c.subject,
                    c.instances,
                    c.variants.join(", ")
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_or_control_laden_names_do_not_break_the_table() {
        struct Rows(Vec<ValueCount>);
        impl fmt::Display for Rows {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                section(f, "device", &self.0)
            }
        }
        let long = "Very Long Manufacturer Name Medical Systems GmbH / Model X-9000 Ultra / SN-1";
        let text = Rows(vec![
            ValueCount {
                value: Some(long.into()),
                name: None,
                instances: 7,
            },
            ValueCount {
                value: Some("a\nb".into()),
                name: None,
                instances: 3,
            },
        ])
        .to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1].trim(), long, "kept whole, on its own line");
        assert_eq!(lines[2].trim(), "7");
        assert_eq!(
            lines[2].find('7'),
            lines[3].find('3'),
            "counts stay aligned: {text}"
        );
        assert!(lines[3].contains("a?b"));
    }
}
