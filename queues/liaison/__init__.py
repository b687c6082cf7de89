"""Police liaison: referral cases, partner forces and country policy, four eyes, sending,
the reporter's notice, the disclosure register (issue 11); evidence packages in `evidence/`,
retention and legal hold in `retention`.

DESIGN.md "Police liaison and evidence packages" describes the whole path.
"""
