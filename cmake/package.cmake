# filled by the packaging work (issue 6)
