//! What each of a pod's volumes is, by name: whether it carries a Secret and
//! whether the kubelet mounts it writable. Every volume source of the core/v1
//! API is classified; one this crate does not know is never counted as
//! writable (a warning says so), so a new API never hides a path.

use crate::hashing::HashMap;

use super::{field, Document};

/// How a volume can be mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Writable unless the mount says `readOnly`.
    Writable,
    /// The kubelet mounts it read-only whatever the mount says (the source
    /// kind, or `readOnly: true` on the volume source); the reason is shown.
    ReadOnly(&'static str),
    /// A source this crate does not know: never counted as writable.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeClass {
    pub access: Access,
    /// A `secret` volume, or a `projected` one with a `secret` source (the
    /// service-account token volume has none).
    pub secret: bool,
    pub empty_dir: bool,
}

/// Sources the kubelet always mounts read-only.
const ALWAYS_READ_ONLY: [&str; 5] = ["secret", "configMap", "projected", "downwardAPI", "image"];
/// Sources that are writable unless their own `readOnly` is true.
const READ_ONLY_FLAG: [&str; 21] = [
    "persistentVolumeClaim",
    "csi",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "fc",
    "azureFile",
    "azureDisk",
    "quobyte",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "vsphereVolume",
    "photonPersistentDisk",
    "flocker",
];
/// Sources that are always writable.
const WRITABLE: [&str; 4] = ["emptyDir", "hostPath", "gitRepo", "ephemeral"];

impl VolumeClass {
    /// Classifies one entry of `spec.volumes`.
    pub fn of<D: Document>(volume: &D) -> VolumeClass {
        // The members present, read once: a volume has two or three, and
        // looking each of thirty kinds up would hash thirty keys.
        let present: Vec<&str> = volume
            .entries()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect();
        let has = |k: &str| present.contains(&k);
        let secret = has("secret")
            || volume
                .member("projected")
                .and_then(|p| p.member("sources"))
                .and_then(D::as_array)
                .is_some_and(|s| s.iter().any(|src| src.member("secret").is_some()));
        let access = if let Some(kind) = ALWAYS_READ_ONLY.iter().find(|k| has(k)) {
            Access::ReadOnly(if *kind == "image" {
                "an image volume"
            } else {
                "a read-only volume kind"
            })
        } else if let Some(kind) = READ_ONLY_FLAG.iter().find(|k| has(k)) {
            if field(volume, &[kind, "readOnly"]).and_then(D::as_bool) == Some(true) {
                Access::ReadOnly("readOnly on the volume")
            } else {
                Access::Writable
            }
        } else if WRITABLE.iter().any(|k| has(k)) {
            Access::Writable
        } else {
            Access::Unknown
        };
        VolumeClass {
            access,
            secret,
            empty_dir: has("emptyDir"),
        }
    }
}

/// The pod's volumes by name, built once per pod.
#[derive(Debug, Default)]
pub(crate) struct Volumes<'a> {
    by_name: HashMap<&'a str, VolumeClass>,
}

impl<'a> Volumes<'a> {
    /// `volumes` is `spec.volumes`; `claim_names` (a StatefulSet's claim
    /// templates) are writable claims.
    pub fn new<D: Document>(volumes: Option<&'a D>, claim_names: &'a [String]) -> Self {
        let mut by_name = HashMap::default();
        let claim = VolumeClass {
            access: Access::Writable,
            secret: false,
            empty_dir: false,
        };
        for name in claim_names {
            by_name.insert(name.as_str(), claim);
        }
        for v in volumes.and_then(D::as_array).into_iter().flatten() {
            if let Some(name) = v.member("name").and_then(D::as_str) {
                // The first of duplicate names wins, as `find` did; the API
                // server rejects the pod anyway.
                by_name.entry(name).or_insert_with(|| VolumeClass::of(v));
            }
        }
        Volumes { by_name }
    }

    /// `None` for a name that is no volume (the API server rejects the pod).
    pub fn get(&self, name: &str) -> Option<VolumeClass> {
        self.by_name.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn every_kind_is_classified() {
        let ro = |v: Value| VolumeClass::of(&v).access;
        assert_eq!(ro(json!({"emptyDir": {}})), Access::Writable);
        assert_eq!(
            ro(json!({"persistentVolumeClaim": {"claimName": "c"}})),
            Access::Writable
        );
        assert!(matches!(
            ro(json!({"persistentVolumeClaim": {"claimName": "c", "readOnly": true}})),
            Access::ReadOnly(_)
        ));
        assert!(matches!(
            ro(json!({"csi": {"driver": "d", "readOnly": true}})),
            Access::ReadOnly(_)
        ));
        assert!(matches!(
            ro(json!({"nfs": {"server": "s", "path": "/", "readOnly": true}})),
            Access::ReadOnly(_)
        ));
        assert!(matches!(
            ro(json!({"image": {"reference": "x"}})),
            Access::ReadOnly("an image volume")
        ));
        assert!(matches!(
            ro(json!({"configMap": {"name": "c"}})),
            Access::ReadOnly(_)
        ));
        assert_eq!(ro(json!({"hostPath": {"path": "/x"}})), Access::Writable);
        assert_eq!(
            ro(json!({"ephemeral": {"volumeClaimTemplate": {}}})),
            Access::Writable
        );
        assert_eq!(ro(json!({"futureKind": {}})), Access::Unknown);
        assert!(
            VolumeClass::of(&json!({"projected": {"sources": [{"secret": {"name": "s"}}]}})).secret
        );
        assert!(
            !VolumeClass::of(&json!({"projected": {"sources": [{"serviceAccountToken": {}}]}}))
                .secret
        );
    }
}
