"""The live session room: WebRTC media relay, per-participant speech chains, the panel."""
