"""HTTP and WebSocket front of the live room (Starlette on uvicorn, websockets protocol)."""
