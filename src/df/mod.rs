//! `dockhand df`: where the disk went. The storage map is a fact (`facts::storage_map` builds
//! it, the disk walks are `runtime::storage`'s); this command asks for it and hands it to
//! `report::df` to render.

mod command;
pub use command::{DfArgs, run};
