//! Request paths of every endpoint the client calls, relative to the base URL.
//! Shared so that the simulator serves exactly what the client asks for.

pub const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
pub const START_PUSH_TICKET: &str = "/cgi-bin/component/api_start_push_ticket";
pub const CREATE_PREAUTHCODE: &str = "/cgi-bin/component/api_create_preauthcode";
pub const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
pub const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
pub const AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";
pub const AUTHORIZER_LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
pub const CLEAR_QUOTA: &str = "/cgi-bin/clear_quota";
pub const COMPONENT_CLEAR_QUOTA_V2: &str = "/cgi-bin/component/clear_quota/v2";

pub const TEMPLATE_SEND: &str = "/cgi-bin/message/template/send";
pub const TEMPLATE_GET_ALL_PRIVATE: &str = "/cgi-bin/template/get_all_private_template";

pub const MASS_SENDALL: &str = "/cgi-bin/message/mass/sendall";
pub const MASS_SEND: &str = "/cgi-bin/message/mass/send";
pub const MASS_GET: &str = "/cgi-bin/message/mass/get";
pub const MASS_DELETE: &str = "/cgi-bin/message/mass/delete";
pub const MASS_PREVIEW: &str = "/cgi-bin/message/mass/preview";

pub const MEDIA_UPLOADIMG: &str = "/cgi-bin/media/uploadimg";
pub const MEDIA_UPLOAD: &str = "/cgi-bin/media/upload";
pub const MEDIA_UPLOADNEWS: &str = "/cgi-bin/media/uploadnews";

pub const CUSTOM_SEND: &str = "/cgi-bin/message/custom/send";

pub const USER_GET: &str = "/cgi-bin/user/get";
pub const USER_INFO: &str = "/cgi-bin/user/info";
pub const USER_INFO_BATCHGET: &str = "/cgi-bin/user/info/batchget";
pub const USER_UPDATE_REMARK: &str = "/cgi-bin/user/info/updateremark";

pub const TAGS_CREATE: &str = "/cgi-bin/tags/create";
pub const TAGS_GET: &str = "/cgi-bin/tags/get";
pub const TAGS_UPDATE: &str = "/cgi-bin/tags/update";
pub const TAGS_DELETE: &str = "/cgi-bin/tags/delete";
pub const TAGS_BATCHTAGGING: &str = "/cgi-bin/tags/members/batchtagging";
pub const TAGS_BATCHUNTAGGING: &str = "/cgi-bin/tags/members/batchuntagging";
pub const TAGS_GETIDLIST: &str = "/cgi-bin/tags/getidlist";

pub const MEDIA_GET: &str = "/cgi-bin/media/get";
pub const MATERIAL_ADD: &str = "/cgi-bin/material/add_material";
pub const MATERIAL_GET: &str = "/cgi-bin/material/get_material";
pub const MATERIAL_DEL: &str = "/cgi-bin/material/del_material";
pub const MATERIAL_COUNT: &str = "/cgi-bin/material/get_materialcount";
pub const MATERIAL_BATCHGET: &str = "/cgi-bin/material/batchget_material";

pub const TEMPLATE_ADD: &str = "/cgi-bin/template/api_add_template";
pub const TEMPLATE_DEL: &str = "/cgi-bin/template/del_private_template";
pub const TEMPLATE_GET_INDUSTRY: &str = "/cgi-bin/template/get_industry";
pub const TEMPLATE_SET_INDUSTRY: &str = "/cgi-bin/template/api_set_industry";

pub const SUBSCRIBE_BIZSEND: &str = "/cgi-bin/message/subscribe/bizsend";
pub const OPENAPI_QUOTA_GET: &str = "/cgi-bin/openapi/quota/get";

// Identity (wechat-api.md §8): web OAuth on behalf, jsapi tickets, QR codes.
pub const SNS_COMPONENT_ACCESS_TOKEN: &str = "/sns/oauth2/component/access_token";
pub const SNS_USERINFO: &str = "/sns/userinfo";
pub const TICKET_GETTICKET: &str = "/cgi-bin/ticket/getticket";
pub const QRCODE_CREATE: &str = "/cgi-bin/qrcode/create";
/// Served by WeChat's web host (mp.weixin.qq.com), not the API host.
pub const SHOWQRCODE: &str = "/cgi-bin/showqrcode";
/// Served by WeChat's web host (open.weixin.qq.com): the web-authorization page.
pub const OAUTH2_AUTHORIZE: &str = "/connect/oauth2/authorize";
