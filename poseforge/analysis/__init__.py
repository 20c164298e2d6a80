"""Analysis of the networks themselves: complexity per part, and the paper's tables reproduced."""
