//! What the worker asks of the kernel, as a trait: [`Kernel`] answers it
//! through rtnetlink; the worker's tests use an in-memory kernel
//! (`fib/fake.rs`) that needs no root.
//!
//! Every operation is Ferry's own: it names VRFs, pod links, routes and
//! rules the way [`Kernel`] recognises as Ferry's, and reads back only
//! those ([`KernelView`]). The futures are `Send`: the worker runs in a
//! task of its own.

use std::future::Future;
use std::net::IpAddr;

use ferry_wire::MacAddress;
use ipnet::IpNet;

use super::kernel::{Backend, Kernel, KernelError, KernelView, PodLink};
use super::plan::{KernelOp, VrfSpec};

/// The kernel operations of the worker task.
pub trait KernelApi: Send + Sync {
    /// How VRFs are made on this kernel.
    fn backend(&self) -> Backend;

    /// Reads back everything Ferry owns.
    fn view(&self) -> impl Future<Output = Result<KernelView, KernelError>> + Send;

    /// Applies the plan's operations (remote routes, neighbour and FDB
    /// entries); the errors of those that failed.
    fn apply(&self, ops: Vec<KernelOp>) -> impl Future<Output = Vec<KernelError>> + Send;

    /// Creates (or adopts, or repairs) the kernel objects of a VRF.
    fn ensure_vrf(
        &self,
        spec: &VrfSpec,
        vtep: IpAddr,
        router_mac: MacAddress,
    ) -> impl Future<Output = Result<(), KernelError>> + Send;

    /// Removes a VRF's kernel objects.
    fn remove_vrf(&self, spec: &VrfSpec) -> impl Future<Output = Result<(), KernelError>> + Send;

    /// Puts a pod's host link into a VRF, with its routes and neighbour
    /// entries; undone on failure.
    fn attach(
        &self,
        spec: &VrfSpec,
        pod: &PodLink,
    ) -> impl Future<Output = Result<(), KernelError>> + Send;

    /// Undoes [`KernelApi::attach`]; what is already gone is not an error.
    fn detach(
        &self,
        spec: &VrfSpec,
        pod: &PodLink,
    ) -> impl Future<Output = Result<(), KernelError>> + Send;

    /// Deletes every Ferry rule for `iif`.
    fn delete_rules(&self, iif: &str) -> impl Future<Output = Result<(), KernelError>> + Send;

    /// Deletes a Ferry route read back by [`KernelApi::view`].
    fn delete_route(
        &self,
        table: u32,
        prefix: IpNet,
    ) -> impl Future<Output = Result<(), KernelError>> + Send;

    /// Deletes a link by name (gone already is fine).
    fn remove_link(&self, name: &str) -> impl Future<Output = Result<(), KernelError>> + Send;

    /// Why `name` cannot be the host side of a pod's link, if it cannot.
    fn pod_link_problem(&self, name: &str) -> impl Future<Output = Option<String>> + Send;
}

impl KernelApi for Kernel {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn view(&self) -> impl Future<Output = Result<KernelView, KernelError>> + Send {
        Kernel::view(self)
    }

    fn apply(&self, ops: Vec<KernelOp>) -> impl Future<Output = Vec<KernelError>> + Send {
        Kernel::apply(self, ops)
    }

    fn ensure_vrf(
        &self,
        spec: &VrfSpec,
        vtep: IpAddr,
        router_mac: MacAddress,
    ) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::ensure_vrf(self, spec, vtep, router_mac)
    }

    fn remove_vrf(&self, spec: &VrfSpec) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::remove_vrf(self, spec)
    }

    fn attach(
        &self,
        spec: &VrfSpec,
        pod: &PodLink,
    ) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::attach(self, spec, pod)
    }

    fn detach(
        &self,
        spec: &VrfSpec,
        pod: &PodLink,
    ) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::detach(self, spec, pod)
    }

    fn delete_rules(&self, iif: &str) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::delete_rules(self, iif)
    }

    fn delete_route(
        &self,
        table: u32,
        prefix: IpNet,
    ) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::delete_route(self, table, prefix)
    }

    fn remove_link(&self, name: &str) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::remove_link(self, name)
    }

    fn pod_link_problem(&self, name: &str) -> impl Future<Output = Option<String>> + Send {
        Kernel::pod_link_problem(self, name)
    }
}
