//! G.711 μ-law, the phone network's 8-bit audio (ITU-T G.711), as Twilio Media Streams
//! carries it (`audio/x-mulaw`, 8 kHz, mono).
//!
//! Both directions follow the ITU's reference implementation (G.191, `g711.c`:
//! `ulaw_compress` / `ulaw_expand`), which takes the one's complement of negative samples.
//! The widespread "Sun" encoder negates them instead and so differs from G.711 on 127
//! negative inputs (inaudible, but not the standard). No crate for this builds with our
//! Rust version (`audio-codec-algorithms` needs 1.87), and it is twenty lines.
//!
//! ```
//! use adk_live::bridge::g711;
//!
//! assert_eq!(g711::ulaw_decode(0x00), -32124);
//! assert_eq!(g711::ulaw_encode(-32124), 0x00);
//! assert_eq!(g711::ulaw_decode(g711::ulaw_encode(1000)), 988);
//! ```

/// One PCM16 sample to one μ-law byte.
pub fn ulaw_encode(sample: i16) -> u8 {
    // To 14 bits; negative samples by one's complement (G.191 `ulaw_compress`).
    let magnitude = if sample < 0 {
        ((!sample) >> 2) as i32 + 33
    } else {
        (sample >> 2) as i32 + 33
    }
    .min(0x1FFF);
    let mut segment = 1;
    let mut i = magnitude >> 6;
    while i != 0 {
        segment += 1;
        i >>= 1;
    }
    let high = 0x08 - segment;
    let low = 0x0F - ((magnitude >> segment) & 0x0F);
    let code = ((high << 4) | low) as u8;
    if sample >= 0 { code | 0x80 } else { code }
}

/// One μ-law byte to one PCM16 sample (G.191 `ulaw_expand`).
pub fn ulaw_decode(code: u8) -> i16 {
    let inverted = !code;
    let exponent = i32::from((inverted >> 4) & 0x07);
    let mantissa = i32::from(inverted & 0x0F);
    let step = 4 << (exponent + 1);
    let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
    (if code < 0x80 { -magnitude } else { magnitude }) as i16
}

/// μ-law bytes to PCM16 little-endian bytes, appended to `out`.
pub fn decode_into(ulaw: &[u8], out: &mut Vec<i16>) {
    out.extend(ulaw.iter().map(|&c| ulaw_decode(c)));
}

/// PCM16 samples to μ-law bytes, appended to `out`.
pub fn encode_into(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| ulaw_encode(s)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code's value, from an independent implementation: CPython 3.11's
    /// `audioop.ulaw2lin(bytes([c]), 2)`.
    const TABLE: [i16; 256] = [
        -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884,
        -20860, -19836, -18812, -17788, -16764, -15996, -15484, -14972, -14460, -13948, -13436,
        -12924, -12412, -11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316, -7932, -7676,
        -7420, -7164, -6908, -6652, -6396, -6140, -5884, -5628, -5372, -5116, -4860, -4604, -4348,
        -4092, -3900, -3772, -3644, -3516, -3388, -3260, -3132, -3004, -2876, -2748, -2620, -2492,
        -2364, -2236, -2108, -1980, -1884, -1820, -1756, -1692, -1628, -1564, -1500, -1436, -1372,
        -1308, -1244, -1180, -1116, -1052, -988, -924, -876, -844, -812, -780, -748, -716, -684,
        -652, -620, -588, -556, -524, -492, -460, -428, -396, -372, -356, -340, -324, -308, -292,
        -276, -260, -244, -228, -212, -196, -180, -164, -148, -132, -120, -112, -104, -96, -88,
        -80, -72, -64, -56, -48, -40, -32, -24, -16, -8, 0, 32124, 31100, 30076, 29052, 28028,
        27004, 25980, 24956, 23932, 22908, 21884, 20860, 19836, 18812, 17788, 16764, 15996, 15484,
        14972, 14460, 13948, 13436, 12924, 12412, 11900, 11388, 10876, 10364, 9852, 9340, 8828,
        8316, 7932, 7676, 7420, 7164, 6908, 6652, 6396, 6140, 5884, 5628, 5372, 5116, 4860, 4604,
        4348, 4092, 3900, 3772, 3644, 3516, 3388, 3260, 3132, 3004, 2876, 2748, 2620, 2492, 2364,
        2236, 2108, 1980, 1884, 1820, 1756, 1692, 1628, 1564, 1500, 1436, 1372, 1308, 1244, 1180,
        1116, 1052, 988, 924, 876, 844, 812, 780, 748, 716, 684, 652, 620, 588, 556, 524, 492, 460,
        428, 396, 372, 356, 340, 324, 308, 292, 276, 260, 244, 228, 212, 196, 180, 164, 148, 132,
        120, 112, 104, 96, 88, 80, 72, 64, 56, 48, 40, 32, 24, 16, 8, 0,
    ];

    #[test]
    fn every_code_decodes_as_the_g711_table() {
        for c in 0..=255u8 {
            assert_eq!(ulaw_decode(c), TABLE[c as usize], "code {c:#04x}");
        }
    }

    #[test]
    fn every_code_but_negative_zero_survives_a_round_trip() {
        for c in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(c));
            // 0x7F is "negative zero": it decodes to 0, which encodes as 0xFF.
            let want = if c == 0x7F { 0xFF } else { c };
            assert_eq!(back, want, "code {c:#04x}");
        }
    }

    #[test]
    fn every_sample_lands_in_its_own_interval() {
        // G.711 quantizes: a sample decodes back to the middle of the interval it fell in,
        // so the error is at most half that interval's step, and codes are monotonic.
        let mut last = ulaw_decode(ulaw_encode(i16::MIN));
        for s in i16::MIN..=i16::MAX {
            let back = ulaw_decode(ulaw_encode(s));
            assert!(back >= last, "monotonic at {s}");
            last = back;
            let code = ulaw_encode(s);
            let exponent = (!code >> 4) & 0x07;
            let half_step = (4i32 << (exponent + 1)) / 2;
            // The clipping region beyond ±32124 and the one's complement offset of
            // negative samples add up to one step.
            let err = (i32::from(back) - i32::from(s)).abs();
            let limit = if s.unsigned_abs() > 32124 {
                800
            } else {
                half_step + 4
            };
            assert!(err <= limit, "{s} -> {code:#04x} -> {back}");
        }
    }
}
