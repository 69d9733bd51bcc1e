//! TODO(helper): emulator
