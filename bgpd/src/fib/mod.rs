//! Kernel synchronisation of a worker: [`plan`] computes what the kernel
//! must hold from the imported EVPN Type-5 routes; [`kernel`] makes it so
//! through rtnetlink and reads it back.

pub mod damage;
pub mod kernel;
pub mod plan;
