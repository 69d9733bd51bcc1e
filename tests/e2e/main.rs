//! End-to-end tests over real websockets against the emulator.
