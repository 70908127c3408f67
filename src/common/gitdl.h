/* libgit2, loaded on first use (common/dl.h says why). Include this instead
 * of <git2.h>: it includes <git2.h> for the types, and turns each libgit2
 * function cairn calls into a call through a pointer that gitdl_load()
 * resolves, so call sites read as plain libgit2 calls and the compiler
 * checks them against libgit2's own prototypes (the pointers are declared
 * with __typeof__ of the functions).
 *
 * Every entry point that starts using libgit2 (where it calls
 * git_libgit2_init()) calls gitdl_load() first and, when that fails, says
 * so and goes on without git (or fails, when git is all it does). A call
 * before a successful gitdl_load() aborts with a message naming the
 * function: that is a bug in cairn, not the user's.
 *
 * To call another libgit2 function: add it to GITDL_FUNCS and to the
 * #define list below (the build fails when one list has a name the other
 * lacks: a missing #define leaves an undefined reference, since cairn does
 * not link libgit2; a missing X entry leaves an unknown struct member). */
#ifndef CAIRN_GITDL_H
#define CAIRN_GITDL_H

#include "common/err.h"

#include <git2.h>

/* The soname of the libgit2 whose headers cairn is built with
 * ("libgit2.so.1.5" on Debian 12, package libgit2-1.5). */
#define GITDL_SONAME "libgit2.so." LIBGIT2_SOVERSION
#define GITDL_PACKAGE "libgit2-" LIBGIT2_SOVERSION

#define GITDL_FUNCS(X)                                                                             \
	X(git_blob_is_binary)                                                                      \
	X(git_blob_rawcontent)                                                                     \
	X(git_blob_rawsize)                                                                        \
	X(git_buf_dispose)                                                                         \
	X(git_commit_author)                                                                       \
	X(git_commit_free)                                                                         \
	X(git_commit_lookup)                                                                       \
	X(git_commit_parent)                                                                       \
	X(git_commit_parent_id)                                                                    \
	X(git_commit_parentcount)                                                                  \
	X(git_commit_summary)                                                                      \
	X(git_commit_tree)                                                                         \
	X(git_config_entry_free)                                                                   \
	X(git_config_free)                                                                         \
	X(git_config_get_entry)                                                                    \
	X(git_config_get_path)                                                                     \
	X(git_diff_find_options_init)                                                              \
	X(git_diff_find_similar)                                                                   \
	X(git_diff_free)                                                                           \
	X(git_diff_get_delta)                                                                      \
	X(git_diff_num_deltas)                                                                     \
	X(git_diff_options_init)                                                                   \
	X(git_diff_tree_to_index)                                                                  \
	X(git_diff_tree_to_tree)                                                                   \
	X(git_error_last)                                                                          \
	X(git_graph_descendant_of)                                                                 \
	X(git_ignore_path_is_ignored)                                                              \
	X(git_index_free)                                                                          \
	X(git_libgit2_init)                                                                        \
	X(git_libgit2_opts)                                                                        \
	X(git_libgit2_shutdown)                                                                    \
	X(git_object_free)                                                                         \
	X(git_object_type)                                                                         \
	X(git_oid_equal)                                                                           \
	X(git_oid_fromstr)                                                                         \
	X(git_oid_is_zero)                                                                         \
	X(git_oid_tostr)                                                                           \
	X(git_oid_tostr_s)                                                                         \
	X(git_patch_free)                                                                          \
	X(git_patch_from_buffers)                                                                  \
	X(git_patch_get_line_in_hunk)                                                              \
	X(git_patch_num_hunks)                                                                     \
	X(git_patch_num_lines_in_hunk)                                                             \
	X(git_patch_to_buf)                                                                        \
	X(git_reference_free)                                                                      \
	X(git_reference_is_branch)                                                                 \
	X(git_reference_lookup)                                                                    \
	X(git_reference_name_to_id)                                                                \
	X(git_reference_shorthand)                                                                 \
	X(git_reference_symbolic_target)                                                           \
	X(git_reference_target)                                                                    \
	X(git_reference_type)                                                                      \
	X(git_repository_config_snapshot)                                                          \
	X(git_repository_free)                                                                     \
	X(git_repository_head)                                                                     \
	X(git_repository_index)                                                                    \
	X(git_repository_is_bare)                                                                  \
	X(git_repository_item_path)                                                                \
	X(git_repository_open_ext)                                                                 \
	X(git_repository_path)                                                                     \
	X(git_repository_state)                                                                    \
	X(git_repository_workdir)                                                                  \
	X(git_revparse_single)                                                                     \
	X(git_status_byindex)                                                                      \
	X(git_status_list_entrycount)                                                              \
	X(git_status_list_free)                                                                    \
	X(git_status_list_new)                                                                     \
	X(git_status_options_init)                                                                 \
	X(git_tree_free)

/* One pointer per function, named as the function. */
struct gitdl_fns {
#define GITDL_MEMBER(f) __typeof__(f) *f;
	GITDL_FUNCS(GITDL_MEMBER)
#undef GITDL_MEMBER
};

/* Filled by gitdl_load(); read-only afterwards. */
extern struct gitdl_fns gitdl_fns;

/* Loads libgit2 (GITDL_SONAME) and resolves every function of GITDL_FUNCS,
 * once per process; later calls return the first call's outcome. Returns 0,
 * or -ELIBACC with err (if not NULL) saying what is missing and which
 * package to install. Any thread; blocks while another thread loads. */
int gitdl_load(struct cairn_err *err);

#ifndef GITDL_NO_REDIRECT
#define git_blob_is_binary (*gitdl_fns.git_blob_is_binary)
#define git_blob_rawcontent (*gitdl_fns.git_blob_rawcontent)
#define git_blob_rawsize (*gitdl_fns.git_blob_rawsize)
#define git_buf_dispose (*gitdl_fns.git_buf_dispose)
#define git_commit_author (*gitdl_fns.git_commit_author)
#define git_commit_free (*gitdl_fns.git_commit_free)
#define git_commit_lookup (*gitdl_fns.git_commit_lookup)
#define git_commit_parent (*gitdl_fns.git_commit_parent)
#define git_commit_parent_id (*gitdl_fns.git_commit_parent_id)
#define git_commit_parentcount (*gitdl_fns.git_commit_parentcount)
#define git_commit_summary (*gitdl_fns.git_commit_summary)
#define git_commit_tree (*gitdl_fns.git_commit_tree)
#define git_config_entry_free (*gitdl_fns.git_config_entry_free)
#define git_config_free (*gitdl_fns.git_config_free)
#define git_config_get_entry (*gitdl_fns.git_config_get_entry)
#define git_config_get_path (*gitdl_fns.git_config_get_path)
#define git_diff_find_options_init (*gitdl_fns.git_diff_find_options_init)
#define git_diff_find_similar (*gitdl_fns.git_diff_find_similar)
#define git_diff_free (*gitdl_fns.git_diff_free)
#define git_diff_get_delta (*gitdl_fns.git_diff_get_delta)
#define git_diff_num_deltas (*gitdl_fns.git_diff_num_deltas)
#define git_diff_options_init (*gitdl_fns.git_diff_options_init)
#define git_diff_tree_to_index (*gitdl_fns.git_diff_tree_to_index)
#define git_diff_tree_to_tree (*gitdl_fns.git_diff_tree_to_tree)
#define git_error_last (*gitdl_fns.git_error_last)
#define git_graph_descendant_of (*gitdl_fns.git_graph_descendant_of)
#define git_ignore_path_is_ignored (*gitdl_fns.git_ignore_path_is_ignored)
#define git_index_free (*gitdl_fns.git_index_free)
#define git_libgit2_init (*gitdl_fns.git_libgit2_init)
#define git_libgit2_opts (*gitdl_fns.git_libgit2_opts)
#define git_libgit2_shutdown (*gitdl_fns.git_libgit2_shutdown)
#define git_object_free (*gitdl_fns.git_object_free)
#define git_object_type (*gitdl_fns.git_object_type)
#define git_oid_equal (*gitdl_fns.git_oid_equal)
#define git_oid_fromstr (*gitdl_fns.git_oid_fromstr)
#define git_oid_is_zero (*gitdl_fns.git_oid_is_zero)
#define git_oid_tostr (*gitdl_fns.git_oid_tostr)
#define git_oid_tostr_s (*gitdl_fns.git_oid_tostr_s)
#define git_patch_free (*gitdl_fns.git_patch_free)
#define git_patch_from_buffers (*gitdl_fns.git_patch_from_buffers)
#define git_patch_get_line_in_hunk (*gitdl_fns.git_patch_get_line_in_hunk)
#define git_patch_num_hunks (*gitdl_fns.git_patch_num_hunks)
#define git_patch_num_lines_in_hunk (*gitdl_fns.git_patch_num_lines_in_hunk)
#define git_patch_to_buf (*gitdl_fns.git_patch_to_buf)
#define git_reference_free (*gitdl_fns.git_reference_free)
#define git_reference_is_branch (*gitdl_fns.git_reference_is_branch)
#define git_reference_lookup (*gitdl_fns.git_reference_lookup)
#define git_reference_name_to_id (*gitdl_fns.git_reference_name_to_id)
#define git_reference_shorthand (*gitdl_fns.git_reference_shorthand)
#define git_reference_symbolic_target (*gitdl_fns.git_reference_symbolic_target)
#define git_reference_target (*gitdl_fns.git_reference_target)
#define git_reference_type (*gitdl_fns.git_reference_type)
#define git_repository_config_snapshot (*gitdl_fns.git_repository_config_snapshot)
#define git_repository_free (*gitdl_fns.git_repository_free)
#define git_repository_head (*gitdl_fns.git_repository_head)
#define git_repository_index (*gitdl_fns.git_repository_index)
#define git_repository_is_bare (*gitdl_fns.git_repository_is_bare)
#define git_repository_item_path (*gitdl_fns.git_repository_item_path)
#define git_repository_open_ext (*gitdl_fns.git_repository_open_ext)
#define git_repository_path (*gitdl_fns.git_repository_path)
#define git_repository_state (*gitdl_fns.git_repository_state)
#define git_repository_workdir (*gitdl_fns.git_repository_workdir)
#define git_revparse_single (*gitdl_fns.git_revparse_single)
#define git_status_byindex (*gitdl_fns.git_status_byindex)
#define git_status_list_entrycount (*gitdl_fns.git_status_list_entrycount)
#define git_status_list_free (*gitdl_fns.git_status_list_free)
#define git_status_list_new (*gitdl_fns.git_status_list_new)
#define git_status_options_init (*gitdl_fns.git_status_options_init)
#define git_tree_free (*gitdl_fns.git_tree_free)
#endif

#endif
