//! Colours and marker shapes. Series colours (policies and their variants)
//! come from the Okabe-Ito colour-blind-safe palette, then Paul Tol's muted
//! colours; models take colours from a palette of their own ([`model`]),
//! none of which is close to a policy's, so that a model is never mistaken
//! for a policy across figures. Markers cycle through four shapes so that
//! lines stay apart in greyscale print.

use plotters::style::RGBColor;

/// The series colours, by index.
pub const COLORS: &[(u8, u8, u8)] = &[
    (0, 114, 178),   // blue
    (213, 94, 0),    // vermillion
    (0, 158, 115),   // bluish green
    (204, 121, 167), // reddish purple
    (230, 159, 0),   // orange
    (86, 180, 233),  // sky blue
    (60, 60, 60),    // near black
    (170, 150, 0),   // dark yellow
    (136, 34, 85),   // wine
    (68, 170, 153),  // teal
    (153, 153, 51),  // olive
    (51, 34, 136),   // indigo
    (170, 68, 153),  // purple
    (136, 204, 238), // cyan
    (221, 204, 119), // sand
    (130, 130, 130), // grey
];

/// Colour indices from [`MODELS`] on are model colours: `model(k)` is
/// colour `MODELS + k`.
pub const MODELS: usize = 1000;

/// The model colours: distinct from each other and from the first three
/// series colours (the policies: blue, vermillion, bluish green).
pub const MODEL_COLORS: &[(u8, u8, u8)] = &[
    (204, 102, 119), // rose
    (51, 34, 136),   // indigo
    (221, 204, 119), // sand
    (136, 204, 238), // cyan
    (136, 34, 85),   // wine
    (153, 153, 51),  // olive
    (170, 68, 153),  // purple
    (60, 60, 60),    // near black
    (220, 180, 0),   // gold
    (160, 160, 160), // grey
    (255, 170, 187), // pink
    (117, 112, 179), // slate
];

/// The colour index of the `k`-th model of a figure.
pub fn model(k: usize) -> usize {
    MODELS + k
}

/// Colour `i` (cycling within its palette).
pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = if i >= MODELS {
        MODEL_COLORS[(i - MODELS) % MODEL_COLORS.len()]
    } else {
        COLORS[i % COLORS.len()]
    };
    RGBColor(r, g, b)
}

/// Marker shape of index `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Filled circle.
    Circle,
    /// Filled square.
    Square,
    /// Filled triangle.
    Triangle,
    /// Diagonal cross.
    Cross,
}

/// Marker shape `i` (cycling).
pub fn shape(i: usize) -> Shape {
    [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Cross][i % 4]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
        let d = |x: u8, y: u8| (x as f64 - y as f64).powi(2);
        (d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)).sqrt()
    }

    #[test]
    fn model_colours_are_apart_from_each_other_and_from_the_policies() {
        for (i, a) in MODEL_COLORS.iter().enumerate() {
            for p in &COLORS[..3] {
                assert!(
                    distance(*a, *p) > 80.0,
                    "model colour {i} is close to a policy's"
                );
            }
            for (j, b) in MODEL_COLORS.iter().enumerate().skip(i + 1) {
                assert!(
                    distance(*a, *b) > 55.0,
                    "model colours {i} and {j} are close"
                );
            }
        }
    }
}
