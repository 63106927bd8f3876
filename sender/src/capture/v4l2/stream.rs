//! Memory-mapped V4L2 streaming that always hands out the newest frame.
//!
//! The `v4l` crate's own stream returns buffers strictly in order and panics
//! if STREAMOFF fails in its destructor; a live sender needs neither. This
//! stream maps the driver's buffers, keeps all of them queued, and when
//! several frames are ready it takes the newest and gives the older ones back
//! to the driver at once. A frame is lent to a closure and requeued as soon
//! as the closure returns, so no buffer is ever held while the network is
//! slow. Dropping the stream stops it, unmaps the buffers and frees them,
//! logging (not panicking on) whatever fails on a camera that is gone.

use std::io;
use std::mem;
use std::os::raw::c_void;
use std::ptr;
use std::time::Duration;

use std::sync::Arc;

use v4l::Device;
use v4l::device::Handle;
use v4l::v4l_sys::{v4l2_buffer, v4l2_requestbuffers};
use v4l::v4l2::{self, vidioc};

const CAPTURE: u32 = v4l::buffer::Type::VideoCapture as u32;
const MMAP: u32 = v4l::memory::Memory::Mmap as u32;
/// `V4L2_BUF_FLAG_ERROR`: the driver says the frame data is damaged.
const FLAG_ERROR: u32 = 0x0040;
/// `V4L2_BUF_FLAG_TIMESTAMP_MASK` and its `MONOTONIC` value.
const FLAG_TIMESTAMP_MASK: u32 = 0xe000;
const FLAG_TIMESTAMP_MONOTONIC: u32 = 0x2000;

/// What the driver says about one dequeued frame.
#[derive(Clone, Copy, Debug)]
pub struct FrameInfo {
    /// Bytes of the buffer the frame fills (MJPEG: often more than the JPEG).
    pub bytes_used: usize,
    /// The driver's frame counter.
    pub sequence: u32,
    /// When the frame was captured, on the monotonic clock, if the driver
    /// stamps it so.
    pub monotonic_us: Option<u64>,
    /// The driver flagged the frame as damaged.
    pub damaged: bool,
    /// Older ready frames given back unread to reach this one.
    pub skipped: u32,
}

struct MappedBuffer {
    start: *mut c_void,
    length: usize,
}

pub struct MappedStream {
    device: Arc<Handle>,
    buffers: Vec<MappedBuffer>,
}

// The mapped memory belongs to the stream alone.
unsafe impl Send for MappedStream {}

impl MappedStream {
    /// Maps `count` buffers (the driver may grant more or fewer), queues
    /// them and starts streaming.
    pub fn start(device: &Device, count: u32) -> io::Result<MappedStream> {
        let device = device.handle();
        let mut request = v4l2_requestbuffers {
            count,
            type_: CAPTURE,
            memory: MMAP,
            ..unsafe { mem::zeroed() }
        };
        ioctl(&device, vidioc::VIDIOC_REQBUFS, &mut request)?;
        if request.count < 2 {
            return Err(io::Error::other(format!(
                "the driver granted {} capture buffers, at least 2 are needed",
                request.count
            )));
        }
        // From here on, Drop releases whatever was set up.
        let mut stream = MappedStream {
            device: device.clone(),
            buffers: Vec::with_capacity(request.count as usize),
        };
        for index in 0..request.count {
            let mut buffer = buffer_description(index);
            ioctl(&device, vidioc::VIDIOC_QUERYBUF, &mut buffer)?;
            let length = buffer.length as usize;
            // SAFETY: maps the driver's buffer `index` at the offset the
            // driver gave; the mapping lives until Drop unmaps it.
            let start = unsafe {
                v4l2::mmap(
                    ptr::null_mut(),
                    length,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    device.fd(),
                    buffer.m.offset as libc::off_t,
                )?
            };
            stream.buffers.push(MappedBuffer { start, length });
        }
        for index in 0..request.count {
            stream.queue(index)?;
        }
        let mut kind = CAPTURE;
        ioctl(&device, vidioc::VIDIOC_STREAMON, &mut kind)?;
        Ok(stream)
    }

    pub fn buffer_count(&self) -> usize {
        self.buffers.len()
    }

    /// Waits up to `timeout` for a frame, lends the newest ready one to
    /// `read` and requeues it. `Ok(None)` means nothing arrived in time.
    pub fn with_newest<R>(
        &mut self,
        timeout: Duration,
        read: impl FnOnce(&[u8], FrameInfo) -> R,
    ) -> io::Result<Option<R>> {
        if !self.wait_readable(timeout)? {
            return Ok(None);
        }
        let mut newest = self.dequeue()?;
        let mut skipped = 0;
        while self.wait_readable(Duration::ZERO)? {
            let newer = self.dequeue()?;
            self.queue(newest.index)?;
            newest = newer;
            skipped += 1;
        }
        let buffer = &self.buffers[newest.index as usize];
        let bytes_used = (newest.bytesused as usize).min(buffer.length);
        // SAFETY: the buffer is dequeued, so the driver does not write to it
        // until it is queued again below, after `read` has returned.
        let data = unsafe { std::slice::from_raw_parts(buffer.start as *const u8, bytes_used) };
        let monotonic = newest.flags & FLAG_TIMESTAMP_MASK == FLAG_TIMESTAMP_MONOTONIC;
        let timestamp = newest.timestamp;
        let info = FrameInfo {
            bytes_used,
            sequence: newest.sequence,
            monotonic_us: (monotonic && timestamp.tv_sec >= 0 && timestamp.tv_usec >= 0)
                .then(|| timestamp.tv_sec as u64 * 1_000_000 + timestamp.tv_usec as u64),
            damaged: newest.flags & FLAG_ERROR != 0,
            skipped,
        };
        let result = read(data, info);
        self.queue(newest.index)?;
        Ok(Some(result))
    }

    /// Gives every ready frame back to the driver unread; returns how many.
    pub fn discard_ready(&mut self) -> io::Result<u64> {
        let mut discarded = 0;
        while self.wait_readable(Duration::ZERO)? {
            let ready = self.dequeue()?;
            self.queue(ready.index)?;
            discarded += 1;
        }
        Ok(discarded)
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut poll = libc::pollfd {
            fd: self.device.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            -1 => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    return Ok(false);
                }
                Err(error)
            }
            0 => Ok(false),
            // POLLERR/POLLHUP (camera gone) is reported by the DQBUF that follows.
            _ => Ok(true),
        }
    }

    fn dequeue(&self) -> io::Result<v4l2_buffer> {
        let mut buffer = buffer_description(0);
        ioctl(&self.device, vidioc::VIDIOC_DQBUF, &mut buffer)?;
        if buffer.index as usize >= self.buffers.len() {
            return Err(io::Error::other(format!(
                "the driver returned buffer {} of {}",
                buffer.index,
                self.buffers.len()
            )));
        }
        Ok(buffer)
    }

    fn queue(&self, index: u32) -> io::Result<()> {
        ioctl(
            &self.device,
            vidioc::VIDIOC_QBUF,
            &mut buffer_description(index),
        )
    }
}

impl Drop for MappedStream {
    fn drop(&mut self) {
        let mut kind = CAPTURE;
        if let Err(error) = ioctl(&self.device, vidioc::VIDIOC_STREAMOFF, &mut kind) {
            log::debug!("camera: STREAMOFF failed: {error}");
        }
        for buffer in self.buffers.drain(..) {
            // SAFETY: unmaps a mapping made in `start`, exactly once.
            if let Err(error) = unsafe { v4l2::munmap(buffer.start, buffer.length) } {
                log::debug!("camera: munmap failed: {error}");
            }
        }
        let mut release = v4l2_requestbuffers {
            count: 0,
            type_: CAPTURE,
            memory: MMAP,
            ..unsafe { mem::zeroed() }
        };
        if let Err(error) = ioctl(&self.device, vidioc::VIDIOC_REQBUFS, &mut release) {
            log::debug!("camera: releasing the buffers failed: {error}");
        }
    }
}

fn buffer_description(index: u32) -> v4l2_buffer {
    v4l2_buffer {
        index,
        type_: CAPTURE,
        memory: MMAP,
        // SAFETY: v4l2_buffer is plain data; zero is its documented start.
        ..unsafe { mem::zeroed() }
    }
}

/// One V4L2 ioctl on the device with `argument` as its in/out structure.
fn ioctl<T>(device: &Handle, request: vidioc::_IOC_TYPE, argument: &mut T) -> io::Result<()> {
    // SAFETY: every caller passes the structure its request expects.
    unsafe { v4l2::ioctl(device.fd(), request, argument as *mut T as *mut c_void) }
}
