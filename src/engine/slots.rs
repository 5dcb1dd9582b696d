//! Typed slots: what one resource type keeps for itself (Roles Anywhere's tag memo, the serials
//! a secret's CA revokes, the account principal KMS writes), keyed by a type the owning module
//! declares, as `http::Extensions` does, so the engine carries it without naming it.
//! `Extensions` ride on each call's `Ctx`; `Slots` are shared by a scope (a partition, a read
//! phase). Nothing of the engine is imported: the context and the scan both hold them.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Values by their type, set before a call and read by the type module that declared the
/// type (`Ctx::ext`). Cheap to clone: values are shared.
#[derive(Clone, Default)]
pub struct Extensions(BTreeMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Extensions {
    /// Keep `value`, replacing one of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.insert_shared(Arc::new(value));
    }
    /// Keep a shared `value` (one the caller keeps too), replacing one of the same type.
    pub fn insert_shared<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.0.insert(TypeId::of::<T>(), value);
    }
    /// The value of type `T`, if one was set.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({} values)", self.0.len())
    }
}

/// State shared by every call in a scope (a partition, a read phase), one value per type,
/// made on first use: a type module's cache without a field for it in the engine.
#[derive(Default)]
pub struct Slots(std::sync::Mutex<BTreeMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Slots {
    /// The scope's `T`, made empty by the first caller.
    pub fn get<T: Any + Default + Send + Sync>(&self) -> Arc<T> {
        let mut slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        slot.clone()
            .downcast()
            .expect("a slot holds the type it is keyed by")
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slots")
    }
}
