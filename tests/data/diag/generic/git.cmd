git -c core.pager=cat log -1
