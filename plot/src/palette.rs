//! Colours and marker shapes: the Okabe-Ito colour-blind-safe palette,
//! then Paul Tol's muted colours; markers cycle through four shapes so that
//! lines stay apart in greyscale print.

use plotters::style::RGBColor;

/// The colours, by index.
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

/// Colour `i` (cycling).
pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = COLORS[i % COLORS.len()];
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
