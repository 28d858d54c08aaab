//! Interop of the Ferry route reflector with FRR, GoBGP, ExaBGP and BIRD,
//! each in its own network namespace.
