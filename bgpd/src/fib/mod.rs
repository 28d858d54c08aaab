//! Kernel synchronisation of a worker: [`plan`] computes what the kernel
//! must hold from the imported EVPN Type-5 routes; [`kernel`] makes it so
//! through rtnetlink and reads it back; [`damage`] finds what someone else
//! removed or changed. The worker drives the kernel through [`KernelApi`]
//! ([`api`]); its tests drive an in-memory kernel instead (`fake`).

pub mod api;
pub mod damage;
#[cfg(test)]
pub mod fake;
pub mod kernel;
pub mod plan;

pub use api::KernelApi;
