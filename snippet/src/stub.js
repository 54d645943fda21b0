// The inline stub the install tag puts before the script (callpool.snippet.install_tag): calls
// made before the script has loaded are queued, and the script replays them. Counted in the
// size budget with the script: every visitor loads both.
window.callpool=window.callpool||function(){(callpool.q=callpool.q||[]).push(arguments)};
