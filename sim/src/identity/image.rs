//! `showqrcode?ticket=`: the QR code's image, a PNG of the URL it stands for,
//! as WeChat's web host serves it.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use qrcode::{Color, QrCode};
use serde::Deserialize;

use crate::calls::lock;
use crate::shared::Shared;

/// Pixels per module, and the quiet zone in modules.
const SCALE: usize = 6;
const QUIET: usize = 4;

#[derive(Deserialize)]
pub(crate) struct ShowQuery {
    ticket: Option<String>,
}

/// `GET /cgi-bin/showqrcode?ticket=`: 404 for an unknown or expired ticket.
pub(crate) async fn show(State(sim): State<Arc<Shared>>, Query(q): Query<ShowQuery>) -> Response {
    let now = sim.clock.now();
    let url = {
        let w = lock(&sim.world);
        match q.ticket.as_deref().and_then(|t| w.identity.qrcode(t, now)) {
            Some(_) => format!(
                "http://weixin.qq.com/q/{}",
                q.ticket
                    .as_deref()
                    .and_then(|t| t.get(2..24))
                    .unwrap_or_default()
            ),
            None => return (StatusCode::NOT_FOUND, "unknown or expired ticket").into_response(),
        }
    };
    match png_of(&url) {
        Some(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A black-on-white grayscale PNG of the QR code for `text`.
pub(crate) fn png_of(text: &str) -> Option<Vec<u8>> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).ok()?;
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::png_of;

    #[test]
    fn the_image_is_a_png_of_a_square_code() {
        let png = png_of("http://weixin.qq.com/q/abc").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert!(info.width >= (21 + 8) * 6);
    }
}
