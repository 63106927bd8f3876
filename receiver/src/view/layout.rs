//! Where pictures go in the window: the grid of tiles and the letterbox.
//!
//! Pure geometry in physical pixels, so it is the same on HiDPI screens and
//! tested without a display. The grid grows with the number of streams (1,
//! 1x2, 2x2, 3x3, 4x4); each picture is scaled to fit its tile with its
//! aspect ratio kept, centred, on whole pixels.

/// A rectangle in physical pixels, from the window's top left corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// Pixels between two tiles.
const GAP: f32 = 2.0;

/// Columns and rows for `count` tiles: side by side for two, then squares.
pub fn grid_shape(count: usize) -> (usize, usize) {
    match count {
        0 | 1 => (1, 1),
        2 => (2, 1),
        3 | 4 => (2, 2),
        5..=9 => (3, 3),
        _ => (4, 4),
    }
}

/// The rectangles of `count` tiles filling `area`, row by row.
pub fn tiles(count: usize, area: Rect) -> Vec<Rect> {
    let (columns, rows) = grid_shape(count);
    let width = (area.width - GAP * (columns - 1) as f32) / columns as f32;
    let height = (area.height - GAP * (rows - 1) as f32) / rows as f32;
    (0..count.min(columns * rows))
        .map(|index| {
            let (column, row) = (index % columns, index / columns);
            Rect {
                x: (area.x + column as f32 * (width + GAP)).round(),
                y: (area.y + row as f32 * (height + GAP)).round(),
                width: width.floor().max(1.0),
                height: height.floor().max(1.0),
            }
        })
        .collect()
}

/// The largest rectangle with the picture's aspect ratio inside `area`,
/// centred: the rest of `area` is the letterbox.
pub fn fit(picture_width: u32, picture_height: u32, area: Rect) -> Rect {
    if picture_width == 0 || picture_height == 0 {
        return area;
    }
    let scale = (area.width / picture_width as f32).min(area.height / picture_height as f32);
    let width = (picture_width as f32 * scale).round().max(1.0);
    let height = (picture_height as f32 * scale).round().max(1.0);
    Rect {
        x: (area.x + (area.width - width) / 2.0).round(),
        y: (area.y + (area.height - height) / 2.0).round(),
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Rect = Rect {
        x: 0.0,
        y: 0.0,
        width: 1280.0,
        height: 720.0,
    };

    #[test]
    fn the_grid_grows_with_the_streams() {
        let shapes: Vec<_> = [1, 2, 3, 4, 5, 9, 10, 16].map(grid_shape).into();
        assert_eq!(
            shapes,
            [
                (1, 1),
                (2, 1),
                (2, 2),
                (2, 2),
                (3, 3),
                (3, 3),
                (4, 4),
                (4, 4)
            ]
        );
        assert_eq!(tiles(1, WINDOW), vec![WINDOW]);
        let two = tiles(2, WINDOW);
        assert_eq!(
            two[0],
            Rect {
                x: 0.0,
                y: 0.0,
                width: 639.0,
                height: 720.0
            }
        );
        assert_eq!(
            two[1],
            Rect {
                x: 641.0,
                y: 0.0,
                width: 639.0,
                height: 720.0
            }
        );
        let sixteen = tiles(16, WINDOW);
        assert_eq!(sixteen.len(), 16);
        let last = sixteen[15];
        assert!(last.x + last.width <= 1280.5 && last.y + last.height <= 720.5);
    }

    #[test]
    fn a_picture_is_letterboxed_or_pillarboxed_to_keep_its_shape() {
        // 4:3 in 16:9: bars left and right.
        let pillar = fit(640, 480, WINDOW);
        assert_eq!(
            pillar,
            Rect {
                x: 160.0,
                y: 0.0,
                width: 960.0,
                height: 720.0
            }
        );
        // 16:9 in a tall window: bars above and below, scaled down.
        let tall = Rect {
            x: 0.0,
            y: 0.0,
            width: 400.0,
            height: 900.0,
        };
        let letter = fit(1920, 1080, tall);
        assert_eq!(
            letter,
            Rect {
                x: 0.0,
                y: 338.0,
                width: 400.0,
                height: 225.0
            }
        );
        // Fractional scales land on whole pixels.
        let odd = fit(
            1280,
            720,
            Rect {
                x: 10.0,
                y: 0.0,
                width: 333.0,
                height: 333.0,
            },
        );
        assert_eq!(odd.width, 333.0);
        assert_eq!(odd.height, 187.0);
        assert_eq!(odd.y, 73.0);
    }
}
