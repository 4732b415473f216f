//! Profiles: which paths an image writes to, and how images are matched to them.

pub mod catalog;
pub mod image;
pub mod model;
pub mod validate;

pub use catalog::{Catalog, LoadedProfile, Resolution, SharedCatalog};
pub use image::{ImagePattern, ImageRef};
pub use model::{Profile, ProfileSet, SecretMounts, WritablePath, WritablePathSpec};
pub use validate::{parse_profile_set, ProfileError};
