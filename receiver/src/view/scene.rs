//! What the window shows, as a pure function: from the tiles, the selection
//! and the sizes of their labels to a list of draw items (which picture or
//! label goes where, dimmed or not), tested without a display like
//! [`layout`](super::layout). The window turns the items into GPU draws.

use super::layout::{self, Rect};

/// Brightness of a picture that is no longer live.
pub const DIMMED: f32 = 0.55;

/// The tiles shown (all of them in the grid, or the one selected alone) and
/// their rectangles in `area`.
pub fn visible_tiles(count: usize, selected: Option<usize>, area: Rect) -> Vec<(usize, Rect)> {
    match selected {
        Some(index) if index < count => vec![(index, area)],
        _ => layout::tiles(count, area).into_iter().enumerate().collect(),
    }
}

/// Whether the tile at `index` is on screen (the one selected, or any in
/// the grid, when None).
pub fn shows(selected: Option<usize>, index: usize) -> bool {
    selected.is_none_or(|selected| selected == index)
}

/// A visible tile as the scene needs it.
pub struct TileView {
    pub index: usize,
    /// Where its picture goes (aspect kept, inside its tile).
    pub picture: Rect,
    pub live: bool,
    /// Whether its picture is on the GPU (nothing to draw before it is).
    pub has_picture: bool,
    /// The sizes of its `stale`/`disconnected` marker and its overlay, when shown.
    pub marker: Option<(u32, u32)>,
    pub overlay: Option<(u32, u32)>,
}

/// Everything on screen.
pub struct Scene {
    pub area: Rect,
    /// The display's scale factor (HiDPI).
    pub scale: f32,
    pub tiles: Vec<TileView>,
    /// "waiting for senders" / "paused", and a notice, when shown.
    pub banner: Option<(u32, u32)>,
    pub notice: Option<(u32, u32)>,
}

/// What an item draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Picture(usize),
    Marker(usize),
    Overlay(usize),
    Banner,
    Notice,
}

/// One thing to draw, in drawing order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Item {
    pub layer: Layer,
    pub rect: Rect,
    /// 1.0 as is; lower dims (stale pictures).
    pub brightness: f32,
    /// Blend by alpha (labels) instead of replacing (pictures).
    pub blend: bool,
}

/// The draw items of `scene`, back to front: each picture with its marker
/// centred on it and its overlay in its top-left corner, then the banner
/// near the bottom, centred, and the notice in the bottom-left corner.
pub fn arrange(scene: &Scene) -> Vec<Item> {
    let margin = (8.0 * scene.scale).round();
    let label = |layer, (width, height): (u32, u32), (x, y): (f32, f32)| Item {
        layer,
        rect: Rect {
            x: f32::round(x),
            y: f32::round(y),
            width: width as f32,
            height: height as f32,
        },
        brightness: 1.0,
        blend: true,
    };
    let centred = |(width, height): (u32, u32), area: Rect| {
        (
            area.x + (area.width - width as f32) / 2.0,
            area.y + (area.height - height as f32) / 2.0,
        )
    };
    let mut items = Vec::new();
    for tile in scene.tiles.iter().filter(|tile| tile.has_picture) {
        items.push(Item {
            layer: Layer::Picture(tile.index),
            rect: tile.picture,
            brightness: if tile.live { 1.0 } else { DIMMED },
            blend: false,
        });
        if let Some(size) = tile.marker {
            items.push(label(
                Layer::Marker(tile.index),
                size,
                centred(size, tile.picture),
            ));
        }
        if let Some(size) = tile.overlay {
            let corner = (tile.picture.x + margin, tile.picture.y + margin);
            items.push(label(Layer::Overlay(tile.index), size, corner));
        }
    }
    if let Some(size) = scene.banner {
        let (x, _) = centred(size, scene.area);
        let y = scene.area.height - size.1 as f32 - 3.0 * margin;
        items.push(label(Layer::Banner, size, (x, y)));
    }
    if let Some(size) = scene.notice {
        let y = scene.area.height - size.1 as f32 - margin;
        items.push(label(Layer::Notice, size, (margin, y)));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: Rect = Rect {
        x: 0.0,
        y: 0.0,
        width: 1280.0,
        height: 720.0,
    };

    fn tile(index: usize, picture: Rect, live: bool) -> TileView {
        TileView {
            index,
            picture,
            live,
            has_picture: true,
            marker: (!live).then_some((200, 40)),
            overlay: Some((300, 50)),
        }
    }

    #[test]
    fn one_stream_alone_fills_the_window_and_the_grid_shows_all() {
        assert_eq!(visible_tiles(3, Some(1), AREA), vec![(1, AREA)]);
        assert_eq!(visible_tiles(3, None, AREA).len(), 3);
        assert_eq!(
            visible_tiles(3, Some(7), AREA).len(),
            3,
            "a gone tile: the grid"
        );
        assert!(shows(None, 2) && shows(Some(2), 2) && !shows(Some(1), 2));
    }

    #[test]
    fn pictures_come_with_their_marker_centred_and_overlay_in_the_corner() {
        let left = Rect {
            x: 0.0,
            y: 0.0,
            width: 640.0,
            height: 360.0,
        };
        let right = Rect {
            x: 642.0,
            y: 0.0,
            width: 638.0,
            height: 360.0,
        };
        let scene = Scene {
            area: AREA,
            scale: 1.0,
            tiles: vec![tile(0, left, true), tile(1, right, false)],
            banner: None,
            notice: Some((400, 20)),
        };
        let items = arrange(&scene);
        let layers: Vec<Layer> = items.iter().map(|item| item.layer).collect();
        assert_eq!(
            layers,
            [
                Layer::Picture(0),
                Layer::Overlay(0),
                Layer::Picture(1),
                Layer::Marker(1),
                Layer::Overlay(1),
                Layer::Notice
            ]
        );
        assert_eq!((items[0].brightness, items[2].brightness), (1.0, DIMMED));
        assert_eq!((items[1].rect.x, items[1].rect.y), (8.0, 8.0));
        let marker = items[3].rect;
        assert_eq!((marker.x, marker.y), (642.0 + (638.0 - 200.0) / 2.0, 160.0));
        assert!(items[3].blend && !items[2].blend);
        assert_eq!(
            (items[5].rect.x, items[5].rect.y),
            (8.0, 720.0 - 20.0 - 8.0)
        );
    }

    #[test]
    fn a_tile_without_a_picture_yet_draws_nothing_and_the_banner_is_centred() {
        let mut waiting = tile(0, AREA, true);
        waiting.has_picture = false;
        let scene = Scene {
            area: AREA,
            scale: 2.0,
            tiles: vec![waiting],
            banner: Some((600, 60)),
            notice: None,
        };
        let items = arrange(&scene);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].layer, Layer::Banner);
        assert_eq!(
            (items[0].rect.x, items[0].rect.y),
            (340.0, 720.0 - 60.0 - 48.0)
        );
    }
}
