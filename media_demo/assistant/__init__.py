"""The reading assistant, "Ask the Current": retrieval over the stories, then an answer that cites them."""
