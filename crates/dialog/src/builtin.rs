//! Built-in defaults of the global handlers: their Chinese wording and the
//! examples/keywords of their intents. A script overrides any field.

use crate::script::{HandlerKind, HandlerSpec, Phrasings};

fn p(items: &[&str]) -> Option<Phrasings> {
    Some(Phrasings(items.iter().map(|s| s.to_string()).collect()))
}

/// Default wording and limits per handler.
pub fn default_handler(kind: HandlerKind) -> HandlerSpec {
    let mut h = HandlerSpec {
        enabled: Some(true),
        ..HandlerSpec::default()
    };
    match kind {
        HandlerKind::Faq => {}
        HandlerKind::Robot => {
            h.say = p(&["我是智能语音助理，很高兴为您服务。"]);
        }
        HandlerKind::Busy => {
            h.say = p(&["好的，不打扰您了，那我{{callback_time}}再联系您，祝您生活愉快，再见！"]);
            h.ask = p(&["好的，那您看什么时候方便，我再给您打过来？"]);
            h.close = p(&["好的，那我改天再联系您，不打扰您了，再见！"]);
        }
        HandlerKind::NotInterested => {
            h.say = p(&["理解的，我就简单跟您说一句，不会耽误您太多时间。"]);
            h.close = p(&["好的，那不打扰您了，以后有需要随时联系我们，祝您生活愉快，再见！"]);
            h.max = Some(1);
        }
        HandlerKind::DoNotCall => {
            h.close = p(&["非常抱歉打扰到您了，以后不会再给您打电话了，再见。"]);
        }
        HandlerKind::Abuse => {
            h.say = p(&["抱歉给您带来不好的体验，我这就为您转接人工客服。"]);
            h.close = p(&["抱歉给您带来不好的体验，今天就先不打扰您了，再见。"]);
        }
        HandlerKind::Fraud => {
            h.say = p(&["请您放心，我们是正规企业，我这就为您转接人工客服帮您核实。"]);
            h.close = p(&[
                "请您放心，我们是正规企业，您也可以通过官方渠道核实。今天先不打扰您了，再见。",
            ]);
        }
        HandlerKind::Human => {
            h.say = p(&["好的，正在为您转接人工客服，请稍等。"]);
            h.close = p(&["非常抱歉，现在人工客服都在忙，稍后会安排专人给您回电，再见。"]);
        }
        HandlerKind::Anger => {
            h.say = p(&["非常抱歉让您不满意了，我马上为您转接人工客服。"]);
            h.close = p(&["非常抱歉让您不满意了，稍后会有专人给您回电，再见。"]);
        }
        HandlerKind::Repeat => {
            h.say = p(&["好的，我再说一遍。"]);
        }
        HandlerKind::Silence => {
            h.say = p(&["喂，您好，能听到我说话吗？", "您好，请问您还在听吗？"]);
            h.close = p(&["可能信号不太好，那我稍后再联系您，再见。"]);
        }
        HandlerKind::NoMatch => {
            h.say = p(&["不好意思，我没太听明白。", "抱歉，刚才没听清楚。"]);
            h.ask = p(&["请问您是想问{{option_a}}，还是{{option_b}}呢？"]);
            h.close = p(&["不好意思，今天先不打扰您了，稍后会有专人联系您，再见。"]);
        }
        HandlerKind::RoundLimit => {
            h.close = p(&["今天聊得有点久了，稍后会有专人联系您，感谢您的耐心，再见。"]);
        }
        HandlerKind::TransferFailed => {
            h.close = p(&["抱歉，人工客服暂时都在忙，稍后会有专人给您回电，再见。"]);
        }
    }
    h
}

/// (keywords, regexes, examples, rule priority) of a built-in intent.
pub type BuiltinIntent = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    i32,
);

/// Built-in intent of a handler: (keywords, regexes, examples, rule priority).
/// Priorities make the stronger request win: "别再打了，不需要" is do-not-call.
pub fn handler_intent(kind: HandlerKind) -> Option<BuiltinIntent> {
    Some(match kind {
        HandlerKind::DoNotCall => (
            &[
                "别再打",
                "不要再打",
                "别打了",
                "不要打了",
                "别给我打",
                "不要给我打",
                "别再给我打",
                "不要再给我打",
                "删掉我的号码",
                "删除我的号码",
                "把我号码删",
                "把我的号码删",
                "拉黑",
                "以后别打",
                "以后不要打",
                "骚扰电话",
                "别骚扰",
                "不要骚扰",
                "再打就投诉",
                "再打我就投诉",
            ],
            &[],
            &[
                "以后不要再给我打电话了",
                "把我的号码删了",
                "你们天天打电话烦不烦别再打了",
            ],
            50,
        ),
        HandlerKind::Abuse => (
            &[
                "傻逼",
                "傻b",
                "妈的",
                "妈逼",
                "妈个逼",
                "你妈",
                "操你",
                "干你",
                "草泥马",
                "尼玛",
                "滚蛋",
                "去死",
                "神经病",
                "有病吧",
                "你有病",
                "有毛病",
                "你毛病",
                "王八蛋",
                "混蛋",
                "狗东西",
                "狗屁",
                "放屁",
                "你大爷",
                "奶奶的",
                "鸡巴",
                "白痴",
                "脑残",
                "滚开",
                "给我滚",
                "滚一边",
            ],
            &["^滚"],
            &["你有病吧", "滚一边去", "神经病啊你", "放你的狗屁"],
            45,
        ),
        HandlerKind::Fraud => (
            &[
                "骗子",
                "诈骗",
                "骗人",
                "骗钱",
                "是不是骗",
                "报警",
                "传销",
                "忽悠人",
                "套路我",
                "不相信你",
                "我不信",
                "胡说八道",
            ],
            &[],
            &[
                "你们是骗子吧",
                "这是诈骗电话吧",
                "我要报警了",
                "我不相信你们",
            ],
            40,
        ),
        HandlerKind::Human => (
            &[
                "转人工",
                "人工客服",
                "人工服务",
                "找人工",
                "要人工",
                "接人工",
                "人工电话",
                "有人工吗",
                "找个人工",
                "让人工",
                "真人客服",
                "找真人",
                "换个真人",
                "换个人",
                "找你们经理",
                "叫你们领导",
                "叫你们经理",
                "让真人",
            ],
            &[],
            &[
                "我要找人工",
                "给我转人工客服",
                "让真人跟我说",
                "叫你们经理来跟我说",
            ],
            35,
        ),
        // Above `human`: "你是人工服务吗" asks what the robot is, it does not ask for a human.
        HandlerKind::Robot => (
            &[
                "机器人",
                "是真人吗",
                "是不是真人",
                "真人吗",
                "是人吗",
                "是人还是",
                "人工还是",
                "还是人工",
                "是人工吗",
                "人工的吗",
                "人工服务吗",
                "是不是人工",
                "人工智能",
                "录音吗",
                "是不是录音",
                "自动语音",
                "智能语音",
                "语音电话",
                "是机器",
                "电脑",
            ],
            &["是.{0,3}人工(服务|客服|的)?[吗呢]"],
            &[
                "你是机器人吗",
                "你是真人吗",
                "我是在跟机器说话吗",
                "你是不是录音",
                "你是人工智能吧",
                "你是人工还是电脑",
            ],
            38,
        ),
        HandlerKind::Busy => (
            &[
                "在忙",
                "很忙",
                "正忙",
                "忙着",
                "没空",
                "没时间",
                "不方便接",
                "现在不方便",
                "不太方便",
                "不是很方便",
                "不方便说话",
                "在开会",
                "开会呢",
                "在开车",
                "开车呢",
                "上班呢",
                "晚点打",
                "晚点再打",
                "晚点再说",
                "回头再说",
                "改天再",
                "等会再打",
                "一会再打",
                "再打给我",
                "再打过来",
                "有空再说",
                "现在忙",
                "我忙",
                "睡觉",
                "在睡",
                "在上班",
                "上班呢",
                "在吃饭",
                "吃饭呢",
                "在做饭",
                "做饭呢",
                "没有时间",
                "在高速",
            ],
            &[],
            &[
                "我现在在忙",
                "现在不方便接电话",
                "我在开会",
                "我在开车呢",
                "你晚点再打过来吧",
                "明天再打给我",
                "等下再说吧",
            ],
            20,
        ),
        HandlerKind::NotInterested => (
            &[
                "不需要",
                "不感兴趣",
                "没兴趣",
                "不用了",
                "不考虑",
                "不想要",
                "用不着",
                "没需求",
                "没有需要",
                "不要了",
                "没有这个需要",
                "不打算",
            ],
            &[],
            &[
                "我不需要",
                "不感兴趣",
                "暂时不考虑",
                "没这个需求",
                "算了吧不用了",
            ],
            15,
        ),
        HandlerKind::Repeat => (
            &[
                "再说一遍",
                "没听清",
                "听不清",
                "重复一下",
                "再讲一遍",
                "你说什么",
                "说的什么",
            ],
            &[],
            &["你说什么我没听清", "麻烦再说一遍"],
            10,
        ),
        _ => return None,
    })
}

/// Everyday answers that are no intent at all. Trained as out-of-scope so the
/// model learns that "是的" or "一百平" is not "are you a robot?".
pub const NEUTRAL_EXAMPLES: &[&str] = &[
    "是的",
    "是我",
    "对",
    "对的",
    "嗯",
    "嗯嗯",
    "好的",
    "好",
    "可以",
    "行",
    "没问题",
    "不是",
    "不对",
    "喂",
    "你好",
    "哦",
    "啊",
    "什么事",
    "你说",
    "一百平",
    "九十平米",
    "大概一百二十平",
    "二十万左右",
    "十万吧",
    "明天下午",
    "周六上午",
    "下午三点",
    "还行吧",
    "不知道",
    "我想想",
    "有的",
    "没有",
    "我看看",
    "差不多",
    "这个嘛",
    "听着呢",
    "在哪",
    "你是哪里",
    "你是哪里的",
    "哪里打来的",
    "什么事情",
    "知道了",
    "好的我知道了",
    "等一下",
    "你找谁",
    "交过了",
];
