//! The client against real consentd servers, through a loopback proxy the
//! tests cut, hold down and point elsewhere.

mod behaviour;
mod proxy;
