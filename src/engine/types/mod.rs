//! One module per plan resource type, in a folder per family (each family's shared helpers in
//! its `mod.rs`), each implementing `engine::resource::Resource` for the type's properties.
//! The dispatch from a plan type to its module is `plan::types::with_props!`/`with_type!`,
//! generated from the catalogue: nothing here lists the types.

pub mod ec2;
pub mod iam;
pub mod kms;
pub mod pki;
pub mod rolesanywhere;
pub mod secretsmanager;
pub mod shared;
