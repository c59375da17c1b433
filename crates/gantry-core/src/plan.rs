//! The per-instance plan: what audit derives from its one decode of an original header
//! besides the findings, namely the de-identified header anonymize writes and the
//! originals seal keeps. It is persisted with the basis it was made on, so seal and
//! anonymize (in this process or a later one) act on it without decoding the original or
//! evaluating the rules again; an instance whose plan is missing or stale is derived
//! afresh, the same way.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Tag, VR};
use dicom_object::InMemDicomObject;
use gantry_store::{InstancePlan, StoredInstance, decode_header, encode_header};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::engine::PatientContext;
use crate::engine::{Engine, add_markers};
use crate::error::{GantryError, InstanceError, Result};
use crate::identity::patient_key;
use crate::identity::{Demographics, IdentifierSet};
use crate::prepared::{Prepared, fingerprint, sop_class};
use crate::pseudonym::Secret;
use crate::risk::{RiskReport, Stage};
use crate::rules::DatePolicy;
use crate::rules::Rules;
use crate::session::Session;

/// Encrypted Attributes Sequence (0400,0500): where the sealed originals go.
const SEAL_TAG: Tag = Tag(0x0400, 0x0500);

/// What a plan depends on besides its own original header: Gantry's version, the config
/// and secret (their fingerprint), and the set of instances whose identities were
/// collected (the store's instance generation: every insert or delete changes it, and
/// with it the identities every instance is checked against).
pub(crate) fn basis(fingerprint: &str, generation: i64) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [
        env!("CARGO_PKG_VERSION").as_bytes(),
        fingerprint.as_bytes(),
        &generation.to_le_bytes(),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// The de-identified header anonymize writes (markers included, seal excluded).
pub(crate) fn deidentify(
    prepared: &Prepared,
    engine: &Engine<'_>,
    rules: &Rules<'_>,
    original: &InMemDicomObject,
) -> std::result::Result<InMemDicomObject, InstanceError> {
    let patient = prepared
        .patient(&patient_key(original))
        .ok_or(InstanceError::PatientNotCollected)?;
    let mut header = engine.anonymize(original, &sop_class(original), patient);
    add_markers(&mut header, rules);
    Ok(header)
}

/// The originals of every top-level attribute that de-identification changes or removes:
/// the single item of the Modified Attributes Sequence. A sequence with any change inside
/// is sealed whole, as re-identification replaces top-level attributes.
///
/// `raw` is the header as stored, when reading it changed values (UN re-read, ISO 2022
/// decoded): the sealed elements are then taken from it, so recovery gives back the
/// original encoding, not Gantry's reading of it.
pub(crate) fn modified_attributes(
    original: &InMemDicomObject,
    deidentified: &InMemDicomObject,
    raw: Option<&InMemDicomObject>,
) -> InMemDicomObject {
    let source = raw.unwrap_or(original);
    let mut out = InMemDicomObject::new_empty();
    for element in original.iter() {
        let tag = element.header().tag;
        match deidentified.get(tag) {
            Some(now) if now == element => {}
            _ => {
                out.put(source.get(tag).unwrap_or(element).clone());
            }
        }
    }
    // The sealed originals are text in the original's character set: the item says which
    // (without it, a UTF-8 name cannot be encoded, and could not be read back).
    if out.iter().next().is_some()
        && let Some(charset) = source.get(dicom_dictionary_std::tags::SPECIFIC_CHARACTER_SET)
    {
        out.put(charset.clone());
    }
    out
}

/// The plan of one instance, from its decoded original (and the header as stored, when
/// reading changed it).
pub(crate) fn make(
    prepared: &Prepared,
    engine: &Engine<'_>,
    rules: &Rules<'_>,
    original: (&InMemDicomObject, Option<&InMemDicomObject>),
    basis: &[u8],
) -> std::result::Result<InstancePlan, InstanceError> {
    Ok(make_decoded(prepared, engine, rules, original, basis)?.0)
}

/// [`make`], and the de-identified header the plan holds, as made (before encoding).
pub(crate) fn make_decoded(
    prepared: &Prepared,
    engine: &Engine<'_>,
    rules: &Rules<'_>,
    (original, raw): (&InMemDicomObject, Option<&InMemDicomObject>),
    basis: &[u8],
) -> std::result::Result<(InstancePlan, InMemDicomObject), InstanceError> {
    let deidentified = deidentify(prepared, engine, rules, original)?;
    let modified = modified_attributes(original, &deidentified, raw);
    let encode = |what, header| {
        encode_header(header).map_err(|source| InstanceError::Encode { what, source })
    };
    let plan = InstancePlan {
        basis: basis.to_vec(),
        deidentified: encode("de-identified header", &deidentified)?,
        modified: encode("modified attributes", &modified)?,
        pixels_clean: None,
        expected: None,
    };
    Ok((plan, deidentified))
}

/// A keyed digest of what is sealed (the encoded originals), and for which key.
pub(crate) fn seal_digest(secret: &Secret, key_id: &str, modified: &[u8]) -> Vec<u8> {
    secret.digest(&[key_id.as_bytes(), modified]).to_vec()
}

/// The de-identified header with a sealed item as the only item of its Encrypted
/// Attributes Sequence. The item is spliced into the encoded header in tag order, the
/// rest copied byte for byte; only a header the walk does not know is decoded for it.
pub(crate) fn with_seal(
    deidentified: &[u8],
    item: &[u8],
) -> std::result::Result<Vec<u8>, InstanceError> {
    if let Some(element) = gantry_store::encode_sequence(SEAL_TAG, &[item])
        && let Some(out) = gantry_store::splice_element(deidentified, SEAL_TAG, &element)
    {
        return Ok(out);
    }
    let mut header =
        crate::header::decode_deidentified(deidentified).map_err(InstanceError::Deidentified)?;
    let item = decode_header(item).map_err(|source| InstanceError::Decode {
        what: "sealed item",
        source,
    })?;
    header.put(DataElement::new(
        SEAL_TAG,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    encode_header(&header).map_err(|source| InstanceError::Encode {
        what: "de-identified header with its seal",
        source,
    })
}

/// What seal and anonymize act on: the plans audit stored, and the means to derive one
/// afresh for an instance whose plan is missing or stale.
pub(crate) struct Plans {
    /// The basis a current plan was made on.
    pub basis: Vec<u8>,
    /// The project secret (seal digests are keyed by it).
    pub secret: Secret,
    /// Patients' identities, collected only when some instance needs a fresh plan.
    pub prepared: Option<Arc<Prepared>>,
}

impl Plans {
    /// The plan of `stored`: as stored when current, else derived from its original.
    pub fn of<'a>(
        &self,
        stored: &'a StoredInstance,
        derive: Option<(&Engine<'_>, &Rules<'_>)>,
    ) -> std::result::Result<Cow<'a, InstancePlan>, InstanceError> {
        if let Some(plan) = &stored.plan
            && plan.basis == self.basis
        {
            return Ok(Cow::Borrowed(plan));
        }
        let (Some(prepared), Some((engine, rules))) = (self.prepared.as_deref(), derive) else {
            return Err(InstanceError::NoPlan);
        };
        let (original, raw) =
            crate::header::decode_instance(stored).map_err(InstanceError::Original)?;
        make(
            prepared,
            engine,
            rules,
            (&original, raw.as_ref()),
            &self.basis,
        )
        .map(Cow::Owned)
    }
}

/// Runs `f` with the engine and rules that derive a plan afresh, when `prepared` (the
/// identities) is there: what [`Plans::of`] needs for an instance without a current plan.
pub(crate) fn with_derive<R>(
    prepared: Option<&Prepared>,
    f: impl FnOnce(Option<(&Engine<'_>, &Rules<'_>)>) -> R,
) -> R {
    let rules = prepared.map(Prepared::rules);
    let engine = prepared.zip(rules.as_ref()).map(|(p, r)| p.engine(r));
    f(engine.as_ref().zip(rules.as_ref()))
}

impl Session {
    /// The plans seal and anonymize act on, checked against the audit `report` the step
    /// was asked to act on. Patients' identities are collected again only when some
    /// instance has no plan made on the current basis (ingested since the audit, or
    /// audited by another version).
    pub(crate) fn plans_for(&mut self, report: &RiskReport) -> Result<Plans> {
        if report.stage != Stage::Audit {
            return Err(GantryError::NotAnAudit);
        }
        let secret = self.secret()?;
        let fingerprint = fingerprint(self.config()?, &secret)?;
        if report.fingerprint != fingerprint {
            let config_changed = report.config_digest.is_empty()
                || report.config_digest != crate::prepared::config_digest(self.config()?)?;
            let changed = if config_changed {
                let path = self
                    .store
                    .meta_get(crate::session::CONFIG_PATH_KEY)?
                    .map(|p| String::from_utf8_lossy(&p).into_owned());
                match path {
                    Some(path) => format!("the configuration (now the one loaded from {path})"),
                    None => "the configuration".to_string(),
                }
            } else {
                "the project secret (another --secret-file, or another database's)".to_string()
            };
            return Err(GantryError::StaleAudit { changed });
        }
        let basis = basis(&fingerprint, self.store.instances_generation()?);
        let prepared = if self.store.unplanned_count(&basis)? > 0 {
            let prepared = self.prepare()?;
            Some(prepared).filter(|p| self::basis(&p.fingerprint, p.generation) == basis)
        } else {
            None
        };
        Ok(Plans {
            basis,
            secret,
            prepared,
        })
    }

    /// Collects each patient's identifiers (from all their instances) and derives their
    /// pseudonym and date offset: what every later step needs about patients.
    pub(crate) fn prepare(&mut self) -> Result<std::sync::Arc<Prepared>> {
        let config = self.config()?.clone();
        let secret = self.secret()?;
        let fingerprint = fingerprint(&config, &secret)?;
        let store_generation = self.store.instances_generation()?;
        // Identities depend only on the original headers, the config and the secret: a
        // session that has not ingested since reuses them (audit, then anonymize, ...).
        if let Some((generation, prepared)) = &self.prepared
            && *generation == self.generation
            && prepared.fingerprint == fingerprint
            && prepared.generation == store_generation
        {
            return Ok(prepared.clone());
        }
        let identities = self.collect_identities(&config.options)?;
        let links = crate::identity::link_patients(
            identities.iter().map(|(key, (_, d))| (key.as_str(), d)),
            config.patient_linkage,
        );
        let mut linked: HashMap<String, IdentifierSet> = HashMap::new();
        for (key, (set, _)) in identities {
            let target = links.get(&key).cloned().unwrap_or(key);
            linked.entry(target).or_default().extend(&set);
        }
        let identities = linked;
        let mut everyone = IdentifierSet::default();
        for set in identities.values() {
            everyone.extend(set);
        }
        // A shard of several checks free text against every shard's identifiers, as a
        // single run does: it cannot run without them.
        everyone.extend(&self.peer_identifiers(&config)?);
        let everyone = everyone.without_ordinary_words();
        let everyone_digest = everyone.digest();
        let everyone = everyone.into_matcher();
        let rules = Rules::new(&config);
        let jitter = config.date_jitter.unwrap_or_default();
        let recent = crate::identity::LazyMatcher::recent();
        let patients = identities
            .into_par_iter()
            .map(|(key, set)| {
                let offset = match rules.dates {
                    DatePolicy::Shift => secret.date_offset(&key, jitter.min_days, jitter.max_days),
                    _ => 0,
                };
                let context = PatientContext {
                    pseudonym: secret.patient_pseudonym(&config.pseudonym_prefix, &key),
                    offset,
                    identity_digest: set.digest(),
                    matcher: crate::identity::LazyMatcher::new(set, recent.clone()),
                };
                (key, context)
            })
            .collect();
        let prepared = std::sync::Arc::new(Prepared {
            config,
            secret,
            patients,
            links,
            everyone,
            everyone_digest,
            fingerprint,
            generation: store_generation,
        });
        self.prepared = Some((self.generation, prepared.clone()));
        Ok(prepared)
    }

    /// Each patient key's identifiers and demographics, from every instance's original:
    /// the identity pass. Its result is kept in the database with what it depends on (the
    /// instances, by the store's generation, the profile options, Gantry's version), so a
    /// later process (each CLI command is one) reads it instead of decoding every original
    /// again.
    fn collect_identities(
        &mut self,
        options: &[crate::settings::ProfileOption],
    ) -> Result<HashMap<String, (IdentifierSet, Demographics)>> {
        let basis = {
            let mut hasher = Sha256::new();
            for part in [
                env!("CARGO_PKG_VERSION").as_bytes(),
                &self.instances_changes()?.to_le_bytes(),
                gantry_store::StoreError::json("the profile options", &options)?.as_bytes(),
            ] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            hex::encode(hasher.finalize())
        };
        if let Some(bytes) = self.store.meta_get(IDENTITIES_KEY)?
            && let Ok(cached) = serde_json::from_slice::<CachedIdentities>(&bytes)
            && cached.basis == basis
        {
            return Ok(cached.identities.into_iter().collect());
        }
        let identities = self.identity_pass(options)?;
        let cached = CachedIdentities {
            basis,
            identities: identities
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let json = gantry_store::StoreError::json("the collected identities", &cached)?;
        self.store.meta_set(IDENTITIES_KEY, json.as_bytes())?;
        Ok(identities)
    }

    /// [`Session::collect_identities`]: from what ingest kept of each original
    /// ([`crate::identity::IdentityFacts`]), or, when some instance has none (indexed
    /// before they were kept), they do not read, or another Gantry took them, from every
    /// original decoded.
    fn identity_pass(
        &mut self,
        options: &[crate::settings::ProfileOption],
    ) -> Result<HashMap<String, (IdentifierSet, Demographics)>> {
        if let Some(identities) = self.identities_from_ingest(options)? {
            return Ok(identities);
        }
        self.identities_from_originals(options)
    }

    /// The identity pass over the facts ingest kept; `None` when an instance has none
    /// this Gantry can use.
    fn identities_from_ingest(
        &mut self,
        options: &[crate::settings::ProfileOption],
    ) -> Result<Option<HashMap<String, (IdentifierSet, Demographics)>>> {
        let mut identities: HashMap<String, (IdentifierSet, Demographics)> = HashMap::new();
        let mut complete = true;
        self.store.for_each_identity(|kept| {
            // Facts that do not read, or that another Gantry took, count as none.
            let facts = kept
                .and_then(|bytes| {
                    serde_json::from_slice::<crate::identity::IdentityFacts>(bytes).ok()
                })
                .filter(crate::identity::IdentityFacts::current);
            match facts {
                Some(facts) => {
                    let entry = identities.entry(facts.key).or_default();
                    entry.0.add_values(&facts.values, options);
                    entry.1.extend(facts.demographics);
                }
                None => complete = false,
            }
            Ok::<_, GantryError>(())
        })?;
        Ok(complete.then_some(identities))
    }

    /// The identity pass over every original, decoded.
    fn identities_from_originals(
        &mut self,
        options: &[crate::settings::ProfileOption],
    ) -> Result<HashMap<String, (IdentifierSet, Demographics)>> {
        let identities: std::sync::Mutex<HashMap<String, (IdentifierSet, Demographics)>> =
            Default::default();
        self.for_each_instance(
            "identities",
            |stored| {
                let header = crate::header::decode_original(&stored.original).ok()?;
                let mut set = IdentifierSet::default();
                set.collect(&header, options);
                Some((patient_key(&header), set, Demographics::of(&header)))
            },
            |_, batch| {
                let mut map = identities.lock().map_err(|_| GantryError::WorkerFailed {
                    step: "collecting identities",
                })?;
                for (_, found) in batch {
                    if let Some((key, set, demographics)) = found {
                        let entry = map.entry(key).or_default();
                        entry.0.extend(&set);
                        entry.1.extend(demographics);
                    }
                }
                Ok(())
            },
        )?;
        identities
            .into_inner()
            .map_err(|_| GantryError::WorkerFailed {
                step: "collecting identities",
            })
    }

    /// The identifiers of every other shard, as imported; refused when one is missing or
    /// was collected with another config.
    fn peer_identifiers(&mut self, config: &crate::settings::Config) -> Result<IdentifierSet> {
        let mut all = IdentifierSet::default();
        let Some(shard) = self.shard.filter(|s| s.count > 1) else {
            return Ok(all);
        };
        let digest = crate::prepared::config_digest(config)?;
        let mut missing = Vec::new();
        for index in (1..=shard.count).filter(|i| *i != shard.index) {
            let Some(bytes) = self.store.meta_get(&crate::peers::meta_key(index))? else {
                missing.push(index);
                continue;
            };
            let set: crate::peers::PeerSet =
                serde_json::from_slice(&bytes).map_err(|e| GantryError::PeerIdentities {
                    path: self.store.path().to_path_buf(),
                    detail: format!(
                        "the stored identifiers of shard {index}/{} are unreadable ({e}): import them again",
                        shard.count
                    ),
                })?;
            if set.config != digest {
                return Err(GantryError::PeerIdentities {
                    path: self.store.path().to_path_buf(),
                    detail: format!(
                        "the identifiers of shard {} were collected with config {}, this shard's is {digest}: run `gantry identities` there again with this config and import the file",
                        set.shard, set.config
                    ),
                });
            }
            all.extend(&crate::peers::identifiers(&set));
        }
        if !missing.is_empty() {
            return Err(GantryError::MissingPeerIdentities {
                shard: shard.to_string(),
                missing,
            });
        }
        Ok(all)
    }

    /// How many times importing other shards' identifiers bumped the instances'
    /// generation.
    fn peer_bumps(&self) -> Result<i64> {
        Ok(self
            .store
            .meta_get(PEER_BUMPS_KEY)?
            .and_then(|b| String::from_utf8_lossy(&b).parse().ok())
            .unwrap_or(0))
    }

    /// A counter of the changes to this session's own instances: the instances'
    /// generation without the bumps of identifier imports (both only grow).
    fn instances_changes(&self) -> Result<i64> {
        Ok(self.store.instances_generation()? - self.peer_bumps()?)
    }

    /// Writes this shard's identifiers (its patients' and staff's, as the identity pass
    /// collects them with the config in force) to `path`, owner-only, for the other shards
    /// of the run to import ([`Session::import_identities`]) before they audit.
    pub fn export_identities(&mut self, path: impl AsRef<Path>) -> Result<IdentitiesFile> {
        let path = path.as_ref();
        let config = self.config()?.clone();
        let secret = self.secret()?;
        let shard = self.shard.unwrap_or(crate::shard::Shard::WHOLE);
        let mut all = IdentifierSet::default();
        for (set, _) in self.collect_identities(&config.options)?.values() {
            all.extend(set);
        }
        let identifiers: Vec<_> = all.items().cloned().collect();
        let count = identifiers.len() as u64;
        crate::peers::write(
            path,
            &secret,
            crate::peers::PeerSet {
                gantry: env!("CARGO_PKG_VERSION").to_string(),
                shard,
                config: crate::prepared::config_digest(&config)?,
                identifiers,
            },
        )?;
        Ok(IdentitiesFile {
            path: path.to_path_buf(),
            shard,
            identifiers: count,
        })
    }

    /// Imports the identifiers other shards wrote ([`Session::export_identities`]): files,
    /// or folders of `*.identities` files. A file of this shard is passed over; one made
    /// with another secret, changed since, or of another partition is refused. Plans made
    /// before are stale once an imported shard's identifiers changed.
    pub fn import_identities<P: AsRef<Path>>(&mut self, paths: &[P]) -> Result<IdentitiesImport> {
        let secret = self.secret()?;
        let shard = self.shard.unwrap_or(crate::shard::Shard::WHOLE);
        let mut report = IdentitiesImport {
            shard,
            imported: Vec::new(),
            missing: Vec::new(),
        };
        let mut changed = false;
        for file in crate::peers::files_in(paths)? {
            let set = crate::peers::read(&file, &secret)?;
            if set.shard.count != shard.count {
                return Err(GantryError::PeerIdentities {
                    path: file,
                    detail: format!(
                        "these are the identifiers of shard {}, not of a shard of {}",
                        set.shard, shard.count
                    ),
                });
            }
            if set.shard == shard {
                continue;
            }
            let key = crate::peers::meta_key(set.shard.index);
            let json = gantry_store::StoreError::json("a shard's identifiers", &set)?;
            if self.store.meta_get(&key)?.as_deref() != Some(json.as_bytes()) {
                self.store.meta_set(&key, json.as_bytes())?;
                changed = true;
            }
            report.imported.push(IdentitiesFile {
                path: file,
                shard: set.shard,
                identifiers: set.identifiers.len() as u64,
            });
        }
        if changed {
            // Plans rest on the instances' generation: bumped, they are stale. The identity
            // pass over this shard's own instances is not (see `instances_changes`).
            let bumps = self.peer_bumps()? + 1;
            self.store.bump_instances_generation()?;
            self.store
                .meta_set(PEER_BUMPS_KEY, bumps.to_string().as_bytes())?;
            self.prepared = None;
        }
        for index in (1..=shard.count).filter(|i| *i != shard.index) {
            if self
                .store
                .meta_get(&crate::peers::meta_key(index))?
                .is_none()
            {
                report.missing.push(index);
            }
        }
        Ok(report)
    }
}

/// The meta key counting the generation bumps of identifier imports.
const PEER_BUMPS_KEY: &str = "peers.bumps";

/// The meta key the identity pass's result is kept under.
const IDENTITIES_KEY: &str = "identities.collected";

/// The identity pass's result as kept, in key order, with what it was made on.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedIdentities {
    basis: String,
    identities: std::collections::BTreeMap<String, (IdentifierSet, Demographics)>,
}

/// A shard's identifiers file, written or imported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdentitiesFile {
    /// The file.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// The shard whose identifiers it holds.
    pub shard: crate::shard::Shard,
    /// How many identifiers.
    pub identifiers: u64,
}

impl std::fmt::Display for IdentitiesFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "identifiers of shard {}: {} in {} (owner-only; it holds PHI, like the database)",
            self.shard,
            self.identifiers,
            self.path.display()
        )
    }
}

/// What [`Session::import_identities`] took in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdentitiesImport {
    /// This shard.
    pub shard: crate::shard::Shard,
    /// The files imported (other shards').
    pub imported: Vec<IdentitiesFile>,
    /// Shards whose identifiers are still missing (audit refuses to run until none is).
    pub missing: Vec<u32>,
}

impl std::fmt::Display for IdentitiesImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for file in &self.imported {
            write!(f, "imported {file}")?;
        }
        if !self.missing.is_empty() {
            writeln!(
                f,
                "shard {} still lacks the identifiers of shard(s) {}",
                self.shard,
                self.missing
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Ok(())
    }
}
