//! Sparklines as strings: one character per point, scaled to the window's own range.

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const ASCII: [char; 8] = ['_', '.', '-', '~', '=', '+', '*', '#'];

/// A sparkline of the last `width` values (NaN shows as a blank). Values are scaled from zero
/// (or the window's minimum, when negative) to the window's maximum, so that noise on a steady
/// level stays small and a real change stands out.
pub(crate) fn spark(values: &[f32], width: usize, ascii: bool) -> String {
    let glyphs = if ascii { &ASCII } else { &BLOCKS };
    let start = values.len().saturating_sub(width);
    let vals = &values[start..];
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for v in vals.iter().copied().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    lo = lo.min(0.0);
    let mut out = String::with_capacity(width * 3);
    for _ in vals.len()..width {
        out.push(' ');
    }
    for v in vals {
        if !v.is_finite() {
            out.push(' ');
            continue;
        }
        let span = hi - lo;
        let idx = if span <= f32::EPSILON {
            0
        } else {
            (((v - lo) / span) * 7.0).round().clamp(0.0, 7.0) as usize
        };
        out.push(glyphs[idx]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_pads() {
        assert_eq!(spark(&[0.0, 1.0, 2.0], 3, false), "▁▅█");
        assert_eq!(spark(&[0.0, 7.0], 4, true), "  _#");
        assert_eq!(spark(&[f32::NAN, 5.0, 5.0], 3, false), " ██");
        assert_eq!(spark(&[0.0, 0.0], 2, false), "▁▁");
        assert_eq!(spark(&[-1.0, 1.0], 2, true), "_#");
        assert_eq!(spark(&[1.0, 2.0, 3.0, 4.0], 2, true), "+#");
        assert_eq!(spark(&[], 2, true), "  ");
    }
}
