// Draws one picture into the viewport the renderer sets: two triangles
// covering exactly it (a software rasteriser pays for every pixel of a
// bigger triangle), sampled with linear filtering. When the picture is shrunk
// over twice (taps > 1) each screen pixel averages taps x taps bilinear samples spread
// over its footprint, so a 1080p stream in a small tile stays smooth rather
// than shimmering. Brightness dims stale pictures.

struct Params {
    brightness: f32,
    taps_x: u32,
    taps_y: u32,
    _padding: u32,
}

@group(0) @binding(0) var picture: texture_2d<f32>;
@group(0) @binding(1) var picture_sampler: sampler;
@group(0) @binding(2) var<uniform> params: Params;

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

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4<f32> {
    var colour: vec4<f32>;
    if params.taps_x == 1u && params.taps_y == 1u {
        colour = textureSample(picture, picture_sampler, in.uv);
    } else {
        let footprint = vec2<f32>(dpdx(in.uv.x), dpdy(in.uv.y));
        var sum = vec4<f32>(0.0);
        for (var y = 0u; y < params.taps_y; y++) {
            for (var x = 0u; x < params.taps_x; x++) {
                let offset = (vec2<f32>(f32(x), f32(y)) + 0.5)
                    / vec2<f32>(f32(params.taps_x), f32(params.taps_y)) - 0.5;
                sum += textureSampleLevel(picture, picture_sampler, in.uv + offset * footprint, 0.0);
            }
        }
        colour = sum / f32(params.taps_x * params.taps_y);
    }
    return vec4<f32>(colour.rgb * params.brightness, colour.a);
}
