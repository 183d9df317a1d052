//! Every `/v1` JSON body type read from the bytes and converted into the values
//! the services take (see `wxopen::fuzzing::request_bodies`).

pub fn exercise(data: &[u8]) {
    let _ = wxopen::fuzzing::request_bodies(data);
}
