"""The live relay: the novel and site sockets, the events services send after a write, the snapshot a page
starts from, flood control, and the training runs pages watch."""
