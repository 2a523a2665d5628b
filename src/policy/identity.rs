//! Who a process is: the verdicts on what the kernel says of a process (its executable, owner,
//! credentials) live with the readers in [`crate::runtime::identity`], because the runtime's
//! daemon locator needs them and the runtime imports nothing above it. Re-exported here for
//! the policies that judge Docker's programs.

pub use crate::runtime::identity::*;
