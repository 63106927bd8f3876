// Draws one picture into the viewport the renderer sets: two triangles
// covering exactly it (a software rasteriser pays for every pixel of a
// bigger triangle), sampled with linear filtering. When the picture is shrunk
// over twice (taps > 1) each screen pixel averages taps x taps bilinear samples spread
// over its footprint, so a 1080p stream in a small tile stays smooth rather
// than shimmering. Brightness dims stale pictures. A picture in YCbCr planes
// (luma in `picture`, chroma in `blue` and `red`, each one byte a sample)
// has its chroma upsampled by the same linear filter and is converted to RGB
// here, as JPEG (JFIF) defines it: full-range BT.601.

struct Params {
    brightness: f32,
    taps_x: u32,
    taps_y: u32,
    _padding: u32,
    // The part of the chroma textures the picture covers (below 1 when a
    // picture of odd size leaves a half-used last chroma sample).
    chroma_scale: vec2<f32>,
    _padding_end: vec2<f32>,
}

@group(0) @binding(0) var picture: texture_2d<f32>;
@group(0) @binding(1) var picture_sampler: sampler;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var blue: texture_2d<f32>;
@group(0) @binding(4) var red: texture_2d<f32>;

struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOutput {
    // Two triangles covering the viewport exactly (a strip of four corners).
    let uv = vec2<f32>(f32(index & 1u), f32((index >> 1u) & 1u));
    var out: VertexOutput;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

// The picture's colour at `uv`, from RGBA or from its planes. `planar` is a
// constant in each entry point, so the driver drops the other branch (a
// software rasteriser pays for every texture read it keeps).
fn sample(uv: vec2<f32>, planar: bool) -> vec4<f32> {
    let first = textureSampleLevel(picture, picture_sampler, uv, 0.0);
    if !planar {
        return first;
    }
    let chroma_uv = uv * params.chroma_scale;
    let cb = textureSampleLevel(blue, picture_sampler, chroma_uv, 0.0).r - 128.0 / 255.0;
    let cr = textureSampleLevel(red, picture_sampler, chroma_uv, 0.0).r - 128.0 / 255.0;
    let y = first.r;
    let rgb = vec3<f32>(y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb);
    return vec4<f32>(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}

fn shade(in: VertexOutput, planar: bool) -> vec4<f32> {
    var colour: vec4<f32>;
    if params.taps_x == 1u && params.taps_y == 1u {
        colour = sample(in.uv, planar);
    } else {
        let footprint = vec2<f32>(dpdx(in.uv.x), dpdy(in.uv.y));
        var sum = vec4<f32>(0.0);
        for (var y = 0u; y < params.taps_y; y++) {
            for (var x = 0u; x < params.taps_x; x++) {
                let offset = (vec2<f32>(f32(x), f32(y)) + 0.5)
                    / vec2<f32>(f32(params.taps_x), f32(params.taps_y)) - 0.5;
                sum += sample(in.uv + offset * footprint, planar);
            }
        }
        colour = sum / f32(params.taps_x * params.taps_y);
    }
    return vec4<f32>(colour.rgb * params.brightness, colour.a);
}

// RGBA pictures and labels.
@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4<f32> {
    return shade(in, false);
}

// Pictures in YCbCr planes.
@fragment
fn fs_planes(in: VertexOutput) -> @location(0) vec4<f32> {
    return shade(in, true);
}
