"""Finding, fetching and configuring the livekit-server binary."""
